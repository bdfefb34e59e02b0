/**
 * q4/q8 ONNX variants as a frozen base that keeps the file's codes (issue #19): the kept base must
 * decode to exactly the dequantized fp32 values, so logits and LoRA training over it equal the
 * expanded (`frozenDtype: 'float32'`) base bit for bit on wasm (the kernel converts codes while
 * packing and then runs the fp32 kernel's sums; tfjs's wasm-reduced-gemm tests check that).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeWeight, encodeWeight } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { baseWeightBytes, injectAdapters, isReducedWeight } from '@tsd-peft/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from './load-causal-lm.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { storiesDir } from './onnx/onnx-fixtures.test-helper.js';
import { optimumPath } from './onnx/optimum-fixtures.test-helper.js';
import { OnnxError } from '@tsd-peft/core';
import { encodeModel, encodeTensor, encodeTensorValueInfo } from './onnx/onnx-encode.js';
import { OnnxDataType } from './onnx/onnx-model.js';
import { readOnnxWeightsFromBytes } from './onnx/read-weights.js';
import { fineTune, tokenBatchFromRows } from './training/fine-tune.js';

beforeAll(useWasmBackend);

interface Case {
  label: string;
  dir: () => string;
  file: string;
}

const CASES: Case[] = [
  { label: 'stories260K q4 (MatMulNBits, block 32)', dir: storiesDir, file: 'onnx/model_q4.onnx' },
  { label: 'stories260K q8 (MatMulInteger, uint8)', dir: storiesDir, file: 'onnx/model_quantized.onnx' },
  { label: 'onnx-optimum qwen2-bias-gqa q4', dir: () => optimumPath('qwen2-bias-gqa', 'onnx'), file: 'onnx/model_q4.onnx' },
  { label: 'onnx-optimum gpt2 q8 (Gemm bias after MatMulInteger)', dir: () => optimumPath('gpt2', 'onnx'), file: 'onnx/model_quantized.onnx' },
  { label: 'onnx-legacy llama-gqa-tied q8 (merged decoder)', dir: () => fixturePath('reference', 'onnx-legacy', 'llama-gqa-tied'), file: 'onnx/decoder_model_merged_quantized.onnx' },
];

const sameBits = (a: ArrayLike<number> & { buffer: ArrayBufferLike }, b: ArrayLike<number> & { buffer: ArrayBufferLike }): boolean =>
  a.length === b.length && Buffer.from(new Uint8Array(Float32Array.from(a).buffer)).equals(Buffer.from(new Uint8Array(Float32Array.from(b).buffer)));

/** Token ids 0…vocab−1 scrambled deterministically: `rows` rows of `len`. */
function tokenRows(vocab: number, rows: number, len: number, seed: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: len }, (_, t) => (seed * 7919 + r * 104729 + t * 1009 + ((t * t) % 97)) % vocab));
}

const load = (c: Case, frozenDtype?: 'float32'): Promise<CausalLM> => loadCausalLM(c.dir(), { onnxFile: c.file, tokenizer: false, ...(frozenDtype === undefined ? {} : { frozenDtype }) });

describe('the ONNX reader with keepCodes', () => {
  it.each(CASES)('$label: every quantized weight kept decodes to exactly the dequantized values', (c) => {
    const file = join(c.dir(), c.file);
    const bytes = new Uint8Array(readFileSync(file));
    const expanded = readOnnxWeightsFromBytes(bytes, { file, dequantize: true });
    const kept = readOnnxWeightsFromBytes(bytes, { file, dequantize: true, keepCodes: true });
    expect([...kept.keys()]).toEqual([...expanded.keys()]);
    let codes = 0;
    let withZeroPoints = 0;
    for (const [name, w] of kept) {
      const want = expanded.get(name)?.data as Float32Array;
      if (w.encoded === undefined) {
        expect(sameBits(w.data, want), name).toBe(true);
        continue;
      }
      codes++;
      expect(w.encoded.dtype).toBe('int8');
      // MatMulNBits' symmetric codes need no zero points and stay two per byte; a uint8 file keeps its own zero
      // points (near 128; exactly 128 gives none)
      if (c.file.includes('q4')) {
        expect(w.encoded.zeroPoints ?? null, name).toBeNull();
        expect(w.encoded.bits, name).toBe(4);
      } else if (w.encoded.zeroPoints != null) withZeroPoints++;
      expect(sameBits(decodeWeight(w.encoded, name), want), name).toBe(true);
    }
    expect(codes).toBeGreaterThan(0);
    if (!c.file.includes('q4')) expect(withZeroPoints).toBeGreaterThan(codes / 2);
  });
});

describe('loadCausalLM on a quantized variant keeps its codes', () => {
  it.each(CASES)('$label: logits equal the expanded fp32 base bit for bit; the base holds codes', async (c) => {
    const kept = await load(c);
    const fp32 = await load(c, 'float32');
    try {
      const { kept: names, expanded } = kept.source.quantizedTensors;
      expect(expanded).toEqual([]);
      expect(names.length).toBeGreaterThan(0);
      expect(fp32.source.quantizedTensors).toEqual({ kept: [], expanded: [] });
      let elements = 0;
      let bytes = 0;
      for (const name of names) {
        const w = kept.weights.get(name);
        if (w === undefined || !isReducedWeight(w)) throw new Error(`${name} is not kept as codes`);
        expect(w.dtype).toBe('int8');
        elements += w.rows * w.cols;
        bytes += baseWeightBytes(w);
        expect(isReducedWeight(fp32.weights.get(name) as tf.Tensor)).toBe(false);
      }
      // int8 codes (1 B) + one fp32 scale per block of 32 (q4: 0.125 B) or per row (q8: ≈ 4/in B)
      const perWeight = bytes / elements;
      // q4: 0.5 + 4/32 = 0.625 (a little more where K = 172 is 6 blocks of 32); q8: 1 + (4 + 1)/in per row
      // (scale and zero point), in ≥ 64 here; fp32 would be 4
      if (c.file.includes('q4')) expect(perWeight).toBeGreaterThanOrEqual(0.625);
      else expect(perWeight).toBeGreaterThanOrEqual(1);
      expect(perWeight).toBeLessThanOrEqual(c.file.includes('q4') ? 0.63 : 1 + 5 / 64 + 0.01);
      console.log(`${c.label}: ${(bytes / 1024).toFixed(1)} KiB of codes for ${elements} weights (${perWeight.toFixed(4)} B/weight)`);
      const ids = tokenRows(kept.config.vocabSize, 2, 24, 1);
      const a = kept.forward({ inputIds: ids });
      const b = fp32.forward({ inputIds: ids });
      expect(sameBits(a.dataSync() as Float32Array, b.dataSync() as Float32Array)).toBe(true);
      tf.dispose([a, b]);
    } finally {
      kept.dispose();
      fp32.dispose();
    }
  });

  it.each(CASES.filter((c) => c.label.startsWith('stories') || c.label.includes('legacy')))('$label: 3 LoRA steps are bit-identical to the expanded base', async (c) => {
    const run = async (m: CausalLM): Promise<{ losses: number[]; weights: Float32Array[] }> => {
      const losses: number[] = [];
      const { adapter } = await fineTune({
        model: m,
        adapter: { method: 'lora', r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 1 },
        data: (i) => {
          // 16 rows, so that no module folds ΔW into an fp32 W (adapted-linear.ts' foldPays): a reduced W never
          // folds, and a folded product sums in another order, so the two bases would differ by design
          const ids = tokenRows(m.config.vocabSize, 2, 8, i + 2);
          return tokenBatchFromRows({ ids, lossMask: ids.map((row) => row.map((_, t) => (t === 0 ? 0 : 1))) });
        },
        steps: 3,
        lr: 1e-2,
        onProgress: (e) => {
          losses.push(e.loss);
        },
      });
      const weights = [...adapter.trainableVariables().values()].map((v) => v.dataSync() as Float32Array);
      adapter.dispose();
      m.dispose();
      return { losses, weights };
    };
    const kept = await run(await load(c));
    const fp32 = await run(await load(c, 'float32'));
    expect(kept.losses).toEqual(fp32.losses);
    expect(kept.weights.length).toBe(fp32.weights.length);
    kept.weights.forEach((w, i) => expect(sameBits(w, fp32.weights[i] as Float32Array), `variable ${i}`).toBe(true));
  });
});

describe('merging into a kept-codes base', () => {
  it.each(CASES.slice(0, 2))('$label: mergeAndUnload gives decode(W) + ΔW, bit for bit the merge over the expanded base', async (c) => {
    const kept = await load(c);
    const fp32 = await load(c, 'float32');
    const config = { seed: 3, method: 'lora' as const, r: 4, alpha: 8, targetModules: ['q_proj', 'down_proj'] };
    const a = injectAdapters(kept.weights, config);
    const b = injectAdapters(fp32.weights, config);
    tf.tidy(() => {
      for (const [name, v] of a.trainableVariables()) {
        if (name.endsWith('lora_B.weight')) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 7));
        (b.trainableVariables().get(name) as tf.Variable).assign(tf.clone(v));
      }
    });
    const mergedA = a.mergeAndUnload();
    const mergedB = b.mergeAndUnload();
    let checked = 0;
    for (const [name, w] of mergedA) {
      if (w === kept.weights.get(name)) continue; // untargeted: still the codes
      if (isReducedWeight(w)) throw new Error(`${name}: a merged weight is fp32`);
      const want = mergedB.get(name) as tf.Tensor2D;
      expect(sameBits(w.dataSync() as Float32Array, want.dataSync() as Float32Array), name).toBe(true);
      checked++;
      w.dispose();
      want.dispose();
    }
    expect(checked).toBe(2 * (kept.rawConfig['num_hidden_layers'] as number));
    kept.dispose();
    fp32.dispose();
  });
});

/** One MatMulNBits q_proj (K = 40, N = 4): B [N, blocks, blockSize/2], `scaleCount` fp32 scales. */
function nbitsModel(opts: { bits?: number; blockSize?: number; scaleCount?: number; zeroPointBytes?: number }): Uint8Array {
  const blockSize = opts.blockSize ?? 32;
  const [k, n] = [40, 4];
  const blocks = Math.ceil(k / blockSize);
  const inputs = ['x', 'B', 'scales', ...(opts.zeroPointBytes === undefined ? [] : ['zp'])];
  return encodeModel({
    name: 'g',
    nodes: [
      {
        name: '/model/layers.0/self_attn/q_proj/MatMul_Q4',
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs,
        outputs: ['y'],
        attributes: [
          { name: 'K', i: k },
          { name: 'N', i: n },
          { name: 'bits', i: opts.bits ?? 4 },
          { name: 'block_size', i: blockSize },
        ],
      },
    ],
    initializers: [
      encodeTensor('B', OnnxDataType.UINT8, [n, blocks, Math.max(1, Math.floor(blockSize / 2))], { raw: new Uint8Array(n * blocks * Math.max(1, Math.floor(blockSize / 2))).fill(0x9a) }),
      encodeTensor('scales', OnnxDataType.FLOAT, [opts.scaleCount ?? n * blocks], { floatData: new Float32Array(opts.scaleCount ?? n * blocks).fill(0.5) }),
      ...(opts.zeroPointBytes === undefined ? [] : [encodeTensor('zp', OnnxDataType.UINT8, [opts.zeroPointBytes], { raw: new Uint8Array(opts.zeroPointBytes).fill(0x77) })]),
    ],
    inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, [1, k])],
    outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, [1, n])],
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
  });
}

describe('malformed quantized tensors get typed errors naming the tensor and file', () => {
  const read = (bytes: Uint8Array, keepCodes: boolean) => readOnnxWeightsFromBytes(bytes, { file: 'odd_q4.onnx', dequantize: true, keepCodes });

  it('a well-formed MatMulNBits with K = 40 (a short last block) and packed zero points reads, kept and expanded alike', () => {
    // 2 blocks per column: zero points take one byte per column (two nibbles)
    const bytes = nbitsModel({ zeroPointBytes: 4 });
    const kept = read(bytes, true).get('model.layers.0.self_attn.q_proj.weight');
    const expanded = read(bytes, false).get('model.layers.0.self_attn.q_proj.weight');
    if (kept?.encoded === undefined || expanded === undefined) throw new Error('q_proj not read');
    expect(kept.encoded.blockSize).toBe(32);
    expect(kept.encoded.scales?.length).toBe(8);
    expect(kept.encoded.codes.length).toBe(80); // 4 × 40 codes, two per byte (the file pads each row to 2 × 16 bytes)
    expect(Array.from(kept.encoded.zeroPoints ?? [])).toEqual([-1, -1, -1, -1, -1, -1, -1, -1]); // 7 − 8
    // codes 0xa (even index), 0x9 (odd); zero points 7 → (10 − 7)·0.5 = 1.5, (9 − 7)·0.5 = 1
    expect(Array.from(expanded.data.slice(0, 4))).toEqual([1.5, 1, 1.5, 1]);
    expect(sameBits(decodeWeight(kept.encoded), expanded.data)).toBe(true);
  });

  it.each([
    { what: 'a wrong scale count', opts: { scaleCount: 7 }, message: /7 scales: expected 8 \(N=4 × 2 blocks of 32\).*file odd_q4\.onnx, tensor scales/ },
    { what: '3-bit codes', opts: { bits: 3 }, message: /bits=3: only 4-bit weights are read.*file odd_q4\.onnx, tensor B/ },
    { what: 'a block size that is not a power of two', opts: { blockSize: 24 }, message: /block_size=24: expected a power of two.*file odd_q4\.onnx, tensor B/ },
    { what: 'a wrong zero-point count', opts: { zeroPointBytes: 3 }, message: /3 zero-point bytes: expected 4.*file odd_q4\.onnx, tensor zp/ },
  ])('$what', ({ opts, message }) => {
    for (const keepCodes of [true, false]) {
      expect(() => read(nbitsModel(opts), keepCodes)).toThrow(OnnxError);
      expect(() => read(nbitsModel(opts), keepCodes)).toThrow(message);
    }
  });
});

describe('frozenDtype over a quantized file', () => {
  it("'int8' keeps the file's codes and encodes its fp32 tensors; 'bfloat16' re-encodes the decoded codes (lossy)", async () => {
    const c = CASES[0] as Case; // stories260K q4: 4-bit projections, an fp32 embedding (the tied head)
    const fp32 = await load(c, 'float32');
    const kept = await load(c);
    const int8 = await loadCausalLM(c.dir(), { onnxFile: c.file, tokenizer: false, frozenDtype: 'int8' });
    const bf16 = await loadCausalLM(c.dir(), { onnxFile: c.file, tokenizer: false, frozenDtype: 'bfloat16' });
    try {
      const q = 'model.layers.0.self_attn.q_proj.weight';
      const e = 'model.embed_tokens.weight';
      const codesOf = (m: CausalLM, name: string) => {
        const w = m.weights.get(name);
        if (w === undefined || !isReducedWeight(w)) throw new Error(`${name} is not reduced`);
        return w.encoded();
      };
      expect(Buffer.from(codesOf(int8, q).codes).equals(Buffer.from(codesOf(kept, q).codes))).toBe(true);
      expect(codesOf(int8, q).blockSize).toBe(32);
      expect(codesOf(int8, q).bits).toBe(4);
      expect(int8.source.quantizedTensors.kept).toEqual(kept.source.quantizedTensors.kept);
      // the default leaves the file's fp32 embedding fp32; 'int8' encodes it as any fp32 weight
      expect(isReducedWeight(kept.weights.get(e) as tf.Tensor)).toBe(false);
      const emb = fp32.weights.get(e) as tf.Tensor2D;
      const [rows, cols] = emb.shape;
      expect(Buffer.from(codesOf(int8, e).codes).equals(Buffer.from(encodeWeight(emb.dataSync() as Float32Array, rows, cols, 'int8').codes))).toBe(true);
      // 'bfloat16': core's encoding of the dequantized values, nothing kept
      expect(bf16.source.quantizedTensors).toEqual({ kept: [], expanded: [] });
      const wq = fp32.weights.get(q) as tf.Tensor2D;
      const want = encodeWeight(wq.dataSync() as Float32Array, wq.shape[0], wq.shape[1], 'bfloat16');
      expect(codesOf(bf16, q).dtype).toBe('bfloat16');
      expect(Buffer.from(codesOf(bf16, q).codes).equals(Buffer.from(want.codes))).toBe(true);
      // full fine-tuning trains W itself: refused over the codes, allowed over the expanded base
      expect(() => injectAdapters(kept.weights, { method: 'full', targetModules: ['q_proj'] })).toThrow(/q_proj is a frozen int8 weight; load the model with frozenDtype 'float32'/);
      injectAdapters(fp32.weights, { method: 'full', targetModules: ['q_proj'] }).dispose();
      // PiSSA's residual W' = decode(W) − s·B₀A₀ cannot be a 4-bit code again: it is stored as 8-bit int8 blocks
      const pissa = injectAdapters(kept.weights, { method: 'pissa', r: 2, alpha: 2, targetModules: ['q_proj'] });
      const slot = [...pissa.slotEntries()][0]?.[1];
      expect(slot?.ctx.frozen.isReduced).toBe(true);
      expect(slot?.ctx.frozen.dtype).toBe('int8');
      const logits = kept.forward({ inputIds: tokenRows(kept.config.vocabSize, 1, 8, 1) }, pissa);
      expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
      logits.dispose();
      pissa.dispose();
    } finally {
      for (const m of [fp32, kept, int8, bf16]) m.dispose();
    }
  });
});
