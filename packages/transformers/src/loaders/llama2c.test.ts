import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, parseSafetensors, Rng, tensorToFloat32 } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { parseLlama2c, permuteRopeRows } from './llama2c.js';

const binPath = (): string => fixturePath('models', 'stories260K', 'stories260K.bin');

describe('llama2.c legacy checkpoint', () => {
  it('gives exactly the tensors of hf/stories260K/model.safetensors (q/k rows permuted per head)', () => {
    const ckpt = parseLlama2c(new Uint8Array(readFileSync(binPath())), binPath());
    const hf = parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', 'hf', 'stories260K', 'model.safetensors'))));
    expect(ckpt.header).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    expect([...ckpt.tensors.keys()].sort()).toEqual([...hf.tensors.keys()].sort());
    for (const [name, t] of hf.tensors) {
      const mine = ckpt.tensors.get(name)!;
      expect(mine.shape, name).toEqual(t.shape);
      // bitwise: the permutation only moves float32 values
      expect(Buffer.from(mine.read().buffer).equals(Buffer.from(tensorToFloat32(t, name).buffer)), name).toBe(true);
    }
    const hfConfig = JSON.parse(readFileSync(fixturePath('reference', 'hf', 'stories260K', 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const key of [
      'hidden_size',
      'intermediate_size',
      'num_hidden_layers',
      'num_attention_heads',
      'num_key_value_heads',
      'head_dim',
      'vocab_size',
      'rms_norm_eps',
      'rope_theta',
      'tie_word_embeddings',
    ]) {
      expect(ckpt.config[key], key).toEqual(hfConfig[key]);
    }
  });

  it('permutes rows h·hd + 2i + j → h·hd + j·hd/2 + i', () => {
    // 2 heads of size 4, one column: the value is the source row index
    const w = Float32Array.from({ length: 8 }, (_, r) => r);
    expect(Array.from(permuteRopeRows(w, 2, 4, 1))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  it('reads an unshared classifier (negative vocab_size) as lm_head.weight', () => {
    const [dim, hidden, layers, heads, kv, vocab, seq] = [8, 12, 1, 2, 1, 10, 4];
    const hd = dim / heads;
    const counts = [
      vocab * dim,
      layers * dim,
      layers * dim * dim,
      layers * kv * hd * dim,
      layers * kv * hd * dim,
      layers * dim * dim,
      layers * dim,
      layers * hidden * dim,
      layers * dim * hidden,
      layers * hidden * dim,
      dim,
      seq * hd,
      vocab * dim,
    ];
    const total = counts.reduce((a, b) => a + b, 0);
    const rng = Rng.fromSeed(1);
    const floats = Float32Array.from({ length: total }, () => rng.normal());
    const bytes = new Uint8Array(28 + 4 * total);
    new Int32Array(bytes.buffer, 0, 7).set([dim, hidden, layers, heads, kv, -vocab, seq]);
    bytes.set(new Uint8Array(floats.buffer), 28);
    const ckpt = parseLlama2c(bytes, 'unshared.bin');
    expect(ckpt.header.sharedClassifier).toBe(false);
    expect(ckpt.config['tie_word_embeddings']).toBe(false);
    expect(Array.from(ckpt.tensors.get('lm_head.weight')!.read())).toEqual(Array.from(floats.subarray(total - vocab * dim)));
    // k_proj uses n_kv_heads (1 head of 4 rows) for its permutation
    const wkStart = counts[0]! + counts[1]! + counts[2]!;
    const wk = floats.subarray(wkStart, wkStart + kv * hd * dim);
    expect(Array.from(ckpt.tensors.get('model.layers.0.self_attn.k_proj.weight')!.read())).toEqual(Array.from(permuteRopeRows(wk, kv, hd, dim)));
  });

  it('rejects truncated files, versioned exports and nonsense headers with ConfigError naming the file', () => {
    const bytes = new Uint8Array(readFileSync(binPath()));
    expect(() => parseLlama2c(bytes.subarray(0, bytes.length - 4), 'cut.bin')).toThrow(/cut\.bin/);
    expect(() => parseLlama2c(bytes.subarray(0, bytes.length - 4), 'cut.bin')).toThrow(ConfigError);
    const versioned = bytes.slice(0, 256);
    new DataView(versioned.buffer).setUint32(0, 0x616b3432, true);
    expect(() => parseLlama2c(versioned, 'v2.bin')).toThrow(/versioned/);
    const zeros = new Uint8Array(64);
    expect(() => parseLlama2c(zeros, 'zeros.bin')).toThrow(/header field dim/);
  });
});

describe('loadCausalLM on the llama2.c .bin', () => {
  let fromBin: CausalLM;
  let fromFolder: CausalLM;
  beforeAll(async () => {
    await useWasmBackend();
    fromBin = await loadCausalLM(binPath());
    fromFolder = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'), { tokenizer: false });
  });
  afterAll(() => {
    fromBin.dispose();
    fromFolder.dispose();
  });

  it('loads to the same logits as the HF folder, and to HF reference logits within 1e-4', () => {
    expect(fromBin.source.kind).toBe('llama2c');
    expect(fromBin.tokenizer).toBeNull();
    const inputs = JSON.parse(readFileSync(fixturePath('reference', 'inputs.json'), 'utf8')) as { input2: { ids: number[] } };
    const ref = parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', 'logits.safetensors'))));
    const a = fromBin.forward({ inputIds: [inputs.input2.ids] });
    const b = fromFolder.forward({ inputIds: [inputs.input2.ids] });
    // identical tensors and the same graph: bitwise-equal logits
    expect(Buffer.from(a.dataSync().buffer).equals(Buffer.from(b.dataSync().buffer))).toBe(true);
    const want = tensorToFloat32(ref.tensors.get('input2')!, 'input2');
    const got = a.dataSync();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4); // see llama.test.ts for why 1e-4
    tf.dispose([a, b]);
  });

  it('takes a tokenizer from another folder', async () => {
    const m = await loadCausalLM(binPath(), { tokenizer: fixturePath('reference', 'hf', 'stories260K') });
    expect(m.tokenizer?.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    m.dispose();
    await expect(loadCausalLM(binPath(), { tokenizer: true })).rejects.toThrow(/no HF tokenizer/);
  });
});
