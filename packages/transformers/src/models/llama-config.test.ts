import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './llama-config.js';

const base = { model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 4 };

describe('parseLlamaConfig', () => {
  it('fills HF defaults: kv heads = heads, head_dim = hidden/heads, θ = 10000, untied, eps 1e-6', () => {
    expect(parseLlamaConfig(base, 'c.json')).toMatchObject({
      numKvHeads: 4,
      headDim: 4,
      ropeTheta: 10000,
      ropeScaling: { type: 'default' },
      tieWordEmbeddings: false,
      rmsNormEps: 1e-6,
      qkvBias: false,
      slidingWindow: null,
    });
  });

  it('reads rope_parameters (transformers 5) and legacy rope_scaling + rope_theta', () => {
    expect(parseLlamaConfig({ ...base, rope_parameters: { rope_theta: 500, rope_type: 'linear', factor: 2 } }, 'c.json')).toMatchObject({
      ropeTheta: 500,
      ropeScaling: { type: 'linear', factor: 2 },
    });
    const llama3 = parseLlamaConfig(
      { ...base, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } },
      'c.json',
    );
    expect(llama3.ropeTheta).toBe(500000);
    expect(llama3.ropeScaling.type).toBe('llama3');
  });

  it('sets the Qwen2 biases and Mistral sliding window', () => {
    expect(parseLlamaConfig({ ...base, model_type: 'qwen2' }, 'c.json')).toMatchObject({ qkvBias: true, oBias: false });
    expect(parseLlamaConfig({ ...base, model_type: 'mistral', sliding_window: 4096 }, 'c.json').slidingWindow).toBe(4096);
    expect(parseLlamaConfig({ ...base, attention_bias: true }, 'c.json')).toMatchObject({ qkvBias: true, oBias: true });
  });

  it.each([
    [{ num_key_value_heads: 3 }, /not a multiple of num_key_value_heads/],
    [{ head_dim: 5 }, /head_dim.*even/],
    [{ hidden_act: 'gelu' }, /hidden_act "gelu"/],
    [{ vocab_size: 0 }, /vocab_size.*positive integer/],
    [{ rope_parameters: { rope_type: 'yarn' } }, /rope_type "yarn" is not supported/],
    [{ model_type: 'qwen2', use_sliding_window: true, sliding_window: 4 }, /sliding_window/],
  ])('refuses %j with a ConfigError naming the file', (patch, message) => {
    expect(() => parseLlamaConfig({ ...base, ...patch }, 'bad/config.json')).toThrow(ConfigError);
    expect(() => parseLlamaConfig({ ...base, ...patch }, 'bad/config.json')).toThrow(message);
    expect(() => parseLlamaConfig({ ...base, ...patch }, 'bad/config.json')).toThrow(/file bad\/config\.json/);
  });
});
