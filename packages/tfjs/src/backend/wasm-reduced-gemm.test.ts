import * as tf from '@tensorflow/tfjs-core';
import { Rng, decodeWeight, decodeWeightRows, encodeWeight, type EncodedWeight } from '@tsd-peft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectReducedMatMulGrads } from './reduced-weight.test-helper.js';
import { ReducedWeight, reducedGather, reducedMatMul } from './reduced-weight.js';
import { setupBackend } from './setup.js';
import { setWasmGemmEnabled, setWasmGemmFma, wasmGemmActive } from './wasm-gemm.js';

/*
 * The wasm kernel for reduced-precision weights against our fp32 kernel on
 * the decoded weight. The check is equality of the bits, the strongest one
 * there is: `rgemm` runs the very tiles, blocking and summation order of the
 * fp32 product and only fills B's packed panels from codes (converted exactly
 * as core's decodeWeight does), so any difference at all means a wrong
 * element, scale, stride, block or remainder. tf.profile shows which kernel
 * ran, since the reference path (decode, then the fp32 kernel) would give the
 * same bits.
 */

const rng = Rng.fromSeed(29);
const randomValues = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

beforeAll(async () => {
  setWasmGemmFma(false); // the fp32 kernel on every engine, so the bits are the same everywhere
  expect(await setupBackend('wasm')).toBe('wasm');
});
afterEach(() => setWasmGemmEnabled(true));

/** The kernels `f` ran (tf.customGrad's own wrapper has no name). */
async function kernelsOf(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => f());
  tf.dispose(info.result as tf.Tensor);
  return info.kernelNames.filter((name) => name !== '');
}

/**
 * Runs x·Wᵀ or x·W for an encoded W on the wasm kernel and checks it equals the fp32 kernel on decodeWeight(W) bit for
 * bit; returns x and the product (the caller disposes them) for further checks.
 */
async function expectKernelMatchesDecoded(encoded: EncodedWeight, n: number, transposeW: boolean, bytes: number): Promise<{ x: tf.Tensor2D; want: tf.Tensor2D }> {
  const { rows, cols } = encoded;
  const w = ReducedWeight.fromEncoded(encoded);
  expect(w.bytes).toBe(bytes);
  const decoded = tf.tensor2d(decodeWeight(encoded), [rows, cols]);
  const x = tf.tensor2d(randomValues(n * (transposeW ? cols : rows)), [n, transposeW ? cols : rows]);
  const got = reducedMatMul(x, w, transposeW);
  const want = tf.matMul(x, decoded, false, transposeW) as tf.Tensor2D;
  expect(bits(got)).toEqual(bits(want));
  expect(await kernelsOf(() => reducedMatMul(x, w, transposeW))).toEqual(['TsdReducedMatMul']);
  tf.dispose([got, decoded]);
  w.dispose();
  return { x, want };
}

describe('reducedMatMul on the wasm kernel', () => {
  // [n, rows, cols]: tiny products; remainders of the 4-row and 8/4/1-column tiles on both sides;
  // K above 512 (256-wide K blocks that resume from C, with a partial last block) on both
  // sides; int8 blocks of 32 cut by K blocks and by a short last block (cols = 1100, 33)
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [2, 3, 1],
    [5, 7, 33],
    [9, 13, 40],
    [37, 20, 1100],
    [6, 1030, 12],
    [64, 48, 576],
  ];
  for (const dtype of ['bfloat16', 'int8'] as const) {
    for (const [n, rows, cols] of shapes) {
      for (const transposeW of [true, false]) {
        const k = transposeW ? cols : rows;
        it(`${dtype} x[${n}, ${k}]·W[${rows}, ${cols}]${transposeW ? 'ᵀ' : ''} equals the fp32 kernel on decodeWeight(W) bit for bit`, async () => {
          const data = randomValues(rows * cols);
          const w = ReducedWeight.fromFloat32(data, rows, cols, dtype, 'proj');
          const decoded = tf.tensor2d(decodeWeight(encodeWeight(data, rows, cols, dtype)), [rows, cols]);
          const x = tf.tensor2d(randomValues(n * k), [n, k]);
          const before = tf.memory();
          const got = reducedMatMul(x, w, transposeW);
          expect(tf.memory().numTensors).toBe(before.numTensors + 1);
          expect(tf.memory().numBytes).toBe(before.numBytes + 4 * got.size); // nothing decoded whole
          const want = tf.matMul(x, decoded, false, transposeW);
          expect(got.shape).toEqual(want.shape);
          expect(bits(got)).toEqual(bits(want));
          expect(await kernelsOf(() => reducedMatMul(x, w, transposeW))).toEqual(['TsdReducedMatMul']);
          tf.dispose([got, want, x, decoded]);
          w.dispose();
        });
      }
    }
  }

  // other loaders' int8 blocks (QLoRA's 64, small ones that take the scalar packing path), built as EncodedWeights directly
  for (const blockSize of [64, 4, 1]) {
    for (const transposeW of [true, false]) {
      it(`int8 with blocks of ${blockSize}, W${transposeW ? 'ᵀ' : ''}: bit for bit the fp32 kernel on decodeWeight(W)`, () => {
        const [n, rows, cols] = [11, 19, 150];
        const blocks = Math.ceil(cols / blockSize);
        const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(rng.uniform(-127, 128)) & 0xff); // int8 codes in [−127, 127]
        const encoded = { dtype: 'int8' as const, rows, cols, codes, scales: randomValues(rows * blocks), blockSize };
        const w = ReducedWeight.fromEncoded(encoded);
        const decoded = tf.tensor2d(decodeWeight(encoded), [rows, cols]);
        const x = tf.tensor2d(randomValues(n * (transposeW ? cols : rows)), [n, transposeW ? cols : rows]);
        const got = reducedMatMul(x, w, transposeW);
        const want = tf.matMul(x, decoded, false, transposeW);
        expect(bits(got)).toEqual(bits(want));
        tf.dispose([got, want, x, decoded]);
        w.dispose();
      });
    }
  }

  // int8 with zero points (an asymmetric uint8 file's codes, code − zero point up to ±255): the scalar packing path on
  // both sides, blocks cut by the K blocks (K > 256), the tile remainders, and one zero point per row (q8 files) or per block
  for (const [n, rows, cols, blockSize] of [
    [11, 19, 150, 32],
    [37, 20, 1100, 2048],
    [6, 1030, 12, 16],
    [5, 9, 33, 8],
  ] as const) {
    for (const transposeW of [true, false]) {
      it(`int8 with zero points, x·W[${rows}, ${cols}]${transposeW ? 'ᵀ' : ''} (blocks of ${blockSize}): bit for bit the fp32 kernel on decodeWeight(W)`, async () => {
        const blocks = rows * Math.ceil(cols / blockSize);
        const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(rng.uniform(0, 256)) & 0xff); // all 256 byte values
        const zeroPoints = Int8Array.from({ length: blocks }, () => Math.floor(rng.uniform(-128, 128)));
        const encoded = { dtype: 'int8' as const, rows, cols, codes, scales: randomValues(blocks), blockSize, zeroPoints };
        const { x, want } = await expectKernelMatchesDecoded(encoded, n, transposeW, 4 * Math.ceil((rows * cols) / 4) + 4 * blocks + 4 * Math.ceil(blocks / 4));
        // and the zero points matter: without them the product differs
        const symmetric = ReducedWeight.fromEncoded({ ...encoded, zeroPoints: null });
        const other = reducedMatMul(x, symmetric, transposeW);
        expect(bits(other)).not.toEqual(bits(want));
        tf.dispose([want, x, other]);
        symmetric.dispose();
      });
    }
  }

  // 4-bit codes, two per byte (a q4 file's MatMulNBits codes as q − 8): odd cols so that rows start mid-byte, K blocks,
  // tile remainders; with and without per-block zero points
  for (const [n, rows, cols, blockSize] of [
    [11, 19, 151, 32],
    [37, 21, 1100, 32],
    [6, 1031, 12, 16],
    [5, 9, 33, 8],
  ] as const) {
    for (const withZeroPoints of [false, true]) {
      for (const transposeW of [true, false]) {
        it(`4-bit int8${withZeroPoints ? ' with zero points' : ''}, x·W[${rows}, ${cols}]${transposeW ? 'ᵀ' : ''} (blocks of ${blockSize}): bit for bit the fp32 kernel on decodeWeight(W)`, async () => {
          const blocks = rows * Math.ceil(cols / blockSize);
          const codes = Uint8Array.from({ length: Math.ceil((rows * cols) / 2) }, () => Math.floor(rng.uniform(0, 256)) & 0xff);
          const zeroPoints = withZeroPoints ? { zeroPoints: Int8Array.from({ length: blocks }, () => Math.floor(rng.uniform(-8, 8))) } : {};
          const encoded = { dtype: 'int8' as const, rows, cols, codes, scales: randomValues(blocks), blockSize, bits: 4 as const, ...zeroPoints };
          const bytes = 4 * Math.ceil(codes.length / 4) + 4 * blocks + (withZeroPoints ? 4 * Math.ceil(blocks / 4) : 0);
          tf.dispose(Object.values(await expectKernelMatchesDecoded(encoded, n, transposeW, bytes)));
        });
      }
    }
  }

  it('handles empty products: K = 0 gives zeros, no rows or no outputs give empty tensors', () => {
    for (const dtype of ['bfloat16', 'int8'] as const) {
      const noCols = ReducedWeight.fromFloat32(new Float32Array(0), 5, 0, dtype);
      const y = reducedMatMul(tf.zeros([3, 0]) as tf.Tensor2D, noCols, true);
      expect(y.shape).toEqual([3, 5]);
      expect(Array.from(y.dataSync())).toEqual(new Array(15).fill(0));
      const w = ReducedWeight.fromFloat32(randomValues(4 * 8), 4, 8, dtype);
      expect(reducedMatMul(tf.zeros([0, 8]) as tf.Tensor2D, w, true).shape).toEqual([0, 4]);
      expect(reducedMatMul(tf.zeros([2, 4]) as tf.Tensor2D, ReducedWeight.fromFloat32(new Float32Array(0), 4, 0, dtype), false).shape).toEqual([2, 0]);
      tf.dispose(y);
      noCols.dispose();
      w.dispose();
    }
  });

  it('falls back to the reference path when our kernel is switched off, with the same bits', async () => {
    const data = randomValues(24 * 40);
    const w = ReducedWeight.fromFloat32(data, 24, 40, 'int8');
    const x = tf.tensor2d(randomValues(10 * 40), [10, 40]);
    const ours = reducedMatMul(x, w, true);
    setWasmGemmEnabled(false);
    expect(wasmGemmActive()).toBe(false);
    expect(await kernelsOf(() => reducedMatMul(x, w, true))).not.toContain('TsdReducedMatMul');
    setWasmGemmEnabled(true);
    const decoded = w.decode();
    const want = tf.matMul(x, decoded, false, true);
    expect(bits(ours)).toEqual(bits(want));
    tf.dispose([ours, x, decoded, want]);
    w.dispose();
  });

  for (const transposeW of [true, false]) {
    it(`has the gradient of x·W${transposeW ? 'ᵀ' : ''} with respect to x on wasm (finite differences)`, () => expectReducedMatMulGrads('bfloat16', 9, 34, 5, transposeW));
  }
});

describe('reducedGather on wasm', () => {
  it('4-bit int8: the gathered rows (odd cols, rows starting mid-byte) equal decodeWeightRows', async () => {
    const [rows, cols] = [30, 23];
    const codes = Uint8Array.from({ length: Math.ceil((rows * cols) / 2) }, () => Math.floor(rng.uniform(0, 256)) & 0xff);
    const encoded = { dtype: 'int8' as const, rows, cols, codes, scales: randomValues(rows), blockSize: 32, bits: 4 as const };
    const w = ReducedWeight.fromEncoded(encoded, 'embed_tokens');
    const ids = tf.tensor1d([29, 0, 7, 8, 7], 'int32');
    const got = reducedGather(w, ids);
    expect(bits(got)).toEqual(Array.from(new Uint32Array(decodeWeightRows(encoded, [29, 0, 7, 8, 7]).buffer)));
    expect(await kernelsOf(() => reducedGather(w, ids))).toEqual(['TsdReducedGather']);
    expect(w.encoded().codes.length).toBe(codes.length);
    tf.dispose([got, ids]);
    w.dispose();
  });

  it('int8 with zero points: the gathered rows equal decodeWeightRows (wasm kernel and reference path)', async () => {
    const [rows, cols] = [40, 24];
    const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(rng.uniform(0, 256)) & 0xff);
    const encoded = { dtype: 'int8' as const, rows, cols, codes, scales: randomValues(rows), blockSize: 32, zeroPoints: Int8Array.from({ length: rows }, (_, r) => r * 3 - 60) };
    const w = ReducedWeight.fromEncoded(encoded, 'embed_tokens');
    const ids = tf.tensor1d([39, 0, 7, 7], 'int32');
    const want = Array.from(new Uint32Array(decodeWeightRows(encoded, [39, 0, 7, 7]).buffer));
    const got = reducedGather(w, ids);
    expect(bits(got)).toEqual(want);
    expect(await kernelsOf(() => reducedGather(w, ids))).toEqual(['TsdReducedGather']);
    expect(await setupBackend('cpu')).toBe('cpu');
    const cpuW = ReducedWeight.fromEncoded(encoded, 'embed_tokens');
    const cpuIds = tf.tensor1d([39, 0, 7, 7], 'int32');
    const ref = reducedGather(cpuW, cpuIds);
    expect(bits(ref)).toEqual(want);
    tf.dispose([ref, cpuIds]);
    cpuW.dispose();
    expect(await setupBackend('wasm')).toBe('wasm');
    tf.dispose([got, ids]);
    w.dispose();
  });

  for (const dtype of ['bfloat16', 'int8'] as const) {
    for (const cols of [64, 7]) {
      it(`${dtype}, ${cols} columns: decodes only the gathered rows, equal to core's decodeWeightRows`, async () => {
        const data = randomValues(50 * cols);
        const w = ReducedWeight.fromFloat32(data, 50, cols, dtype, 'embed_tokens');
        const ids = tf.tensor1d([49, 0, 17, 17, 3], 'int32');
        const before = tf.memory();
        const rows = reducedGather(w, ids);
        expect(tf.memory().numTensors).toBe(before.numTensors + 1);
        expect(rows.shape).toEqual([5, cols]);
        expect(bits(rows)).toEqual(Array.from(new Uint32Array(decodeWeightRows(encodeWeight(data, 50, cols, dtype), [49, 0, 17, 17, 3]).buffer)));
        expect(await kernelsOf(() => reducedGather(w, ids))).toEqual(['TsdReducedGather']);
        const bad = tf.tensor1d([2, 50], 'int32');
        const count = tf.memory().numTensors;
        expect(() => reducedGather(w, bad)).toThrow(/row 50 is outside \[0, 50\).*embed_tokens/);
        expect(tf.memory().numTensors).toBe(count);
        tf.dispose([rows, ids, bad]);
        w.dispose();
      });
    }
  }
});
