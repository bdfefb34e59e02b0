import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type ForwardFn } from './generate.js';
import { loadCausalLM, type CausalLM } from './load-causal-lm.js';
import { CACHED_LENGTHS } from './models/length-cache.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';

interface Generation {
  prompt_ids: number[];
  hf_generate_ids: number[];
  hf_text: string;
  new_tokens: number;
}

/** A forward whose last-position logits are a fixed vector (for testing the sampler alone). */
function fixedLogits(values: number[]): ForwardFn {
  return (inputs) => {
    const ids = inputs.inputIds as number[][];
    const [b, t, v] = [ids.length, ids[0]!.length, values.length];
    return tf.tensor3d(
      Float32Array.from({ length: b * t * v }, (_, i) => values[i % v]!),
      [b, t, v],
    );
  };
}

describe('generate on stories260K', () => {
  let model: CausalLM;
  let gen: Generation;
  beforeAll(async () => {
    await useWasmBackend();
    model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'));
    gen = JSON.parse(readFileSync(fixturePath('reference', 'generation.json'), 'utf8')) as Generation;
  });
  afterAll(() => model.dispose());

  it('greedy from input1 reproduces generation.json (60 new tokens, ids and text)', async () => {
    const before = tf.memory().numTensors;
    const out = await model.generate(gen.prompt_ids, { maxNewTokens: gen.new_tokens });
    expect(out.sequences[0]).toEqual(gen.hf_generate_ids);
    expect(out.texts?.[0]).toBe(gen.hf_text);
    // What may remain: per-length mask + cos + sin for at most CACHED_LENGTHS lengths,
    // their three masters, the rotate-half matrix and 36 pre-transposed weights.
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(3 * CACHED_LENGTHS + 3 + 1 + 36);
    const warm = tf.memory().numTensors;
    await model.generate(gen.prompt_ids, { maxNewTokens: gen.new_tokens });
    expect(tf.memory().numTensors).toBe(warm);
  });

  it('accepts a text prompt and a right-padded batch of unequal prompts (rows equal their solo runs)', async () => {
    const batch = await model.generate(['Once upon a time', 'The cat'], { maxNewTokens: 12 });
    const solo = await model.generate('The cat', { maxNewTokens: 12 });
    expect(batch.sequences[0]).toEqual(gen.hf_generate_ids.slice(0, 5 + 12));
    expect(batch.sequences[1]).toEqual(solo.sequences[0]);
  });

  it('samples reproducibly from a seed; top-k = 1 is greedy', async () => {
    const a = await model.generate(gen.prompt_ids, { maxNewTokens: 20, temperature: 1, seed: 42 });
    const b = await model.generate(gen.prompt_ids, { maxNewTokens: 20, temperature: 1, rng: Rng.fromSeed(42) });
    const c = await model.generate(gen.prompt_ids, { maxNewTokens: 20, temperature: 1.5, seed: 43 });
    expect(a.sequences).toEqual(b.sequences);
    expect(c.sequences).not.toEqual(a.sequences);
    const k1 = await model.generate(gen.prompt_ids, { maxNewTokens: 20, temperature: 0.8, topK: 1, seed: 1 });
    expect(k1.sequences[0]).toEqual(gen.hf_generate_ids.slice(0, 25));
  });
});

describe('sampler', () => {
  beforeAll(useWasmBackend);

  it('draws tokens with frequencies softmax(logits / T)', async () => {
    const logits = [2, 1, 0, -1];
    const temperature = 0.7;
    const draws = 4000;
    // one step for a batch of `draws` rows: each row is one draw from the shared Rng
    const out = await generate(fixedLogits(logits), new Array<number[]>(draws).fill([0]), { maxNewTokens: 1, temperature, seed: 9 });
    const counts = [0, 0, 0, 0];
    for (const [t] of out.newTokens) counts[t!]!++;
    const e = logits.map((l) => Math.exp(l / temperature));
    const z = e.reduce((a, b) => a + b, 0);
    // χ² with 3 dof: 16.3 is the 0.1 % tail; a wrong temperature (e.g. 1.0) gives χ² in the hundreds
    const chi2 = counts.reduce((s, c, i) => s + (c - (draws * e[i]!) / z) ** 2 / ((draws * e[i]!) / z), 0);
    expect(chi2).toBeLessThan(16.3);
  });

  it('never draws outside the top k', async () => {
    const out = await generate(fixedLogits([0, 3, 2.9, 0.1, 1]), new Array<number[]>(500).fill([0]), { maxNewTokens: 1, temperature: 5, topK: 2, seed: 2 });
    expect(new Set(out.newTokens.flat())).toEqual(new Set([1, 2]));
  });

  it('stops a row at EOS and keeps the EOS token', async () => {
    const out = await generate(fixedLogits([0, 0, 5]), [[1, 1], [1]], { maxNewTokens: 10, eosTokenIds: [2] });
    expect(out.newTokens).toEqual([[2], [2]]);
    expect(out.stoppedOnEos).toEqual([true, true]);
  });

  it('validates its options', async () => {
    const f = fixedLogits([0, 1]);
    await expect(generate(f, [[0]], { temperature: -1 })).rejects.toThrow(ConfigError);
    await expect(generate(f, [[0]], { topK: 0, temperature: 1 })).rejects.toThrow(ConfigError);
    await expect(generate(f, [[]])).rejects.toThrow(ConfigError);
    await expect(generate(f, [[0]], { maxNewTokens: 1.5 })).rejects.toThrow(ConfigError);
  });
});
