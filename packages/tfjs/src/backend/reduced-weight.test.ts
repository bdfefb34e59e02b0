import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, decodeWeight, decodeWeightRows, encodeWeight } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectReducedMatMulGrads } from './reduced-weight.test-helper.js';
import { ReducedWeight, reducedGather, reducedMatMul } from './reduced-weight.js';
import { setupBackend } from './setup.js';

/*
 * The reference path (every backend): W decoded exactly, then the ordinary
 * matMul. Run on the cpu backend; the wasm kernel has its own bit-for-bit
 * test (wasm-reduced-gemm.test.ts).
 */

const rng = Rng.fromSeed(23);
const randomValues = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));

beforeAll(async () => {
  expect(await setupBackend('cpu')).toBe('cpu');
});
afterAll(() => tf.disposeVariables());

/**
 * x·op(W) in float64 with the fp32 rounding bound of each element: any order
 * of an fp32 sum of k products errs by at most γ_k·Σ|x||w| with γ_k ≈ k·2⁻²⁴
 * (Higham, Accuracy and Stability, §3.1); 1.01× for the products' rounding.
 */
function f64Product(x: Float32Array, n: number, w: Float32Array, rows: number, cols: number, transposeW: boolean): { value: Float64Array; bound: Float64Array } {
  const [k, outCols] = transposeW ? [cols, rows] : [rows, cols];
  const value = new Float64Array(n * outCols);
  const bound = new Float64Array(n * outCols);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < outCols; j++) {
      let [s, a] = [0, 0];
      for (let p = 0; p < k; p++) {
        const product = (x[i * k + p] as number) * (w[transposeW ? j * cols + p : p * cols + j] as number);
        s += product;
        a += Math.abs(product);
      }
      value[i * outCols + j] = s;
      bound[i * outCols + j] = 1.01 * (k + 1) * 2 ** -24 * a;
    }
  }
  return { value, bound };
}

describe('ReducedWeight', () => {
  it('holds packed codes and scales, decodes exactly, and frees both on dispose', () => {
    const before = tf.memory().numTensors;
    const data = randomValues(6 * 40);
    const bf16 = ReducedWeight.fromFloat32(data, 6, 40, 'bfloat16', 'q_proj');
    const dense = tf.tensor2d(data, [6, 40]);
    let int8 = null as unknown as ReducedWeight;
    tf.tidy(() => {
      int8 = ReducedWeight.fromTensor(dense, 'int8', 'k_proj'); // kept: survives the tidy
    });
    dense.dispose();
    expect([bf16.dtype, bf16.rows, bf16.cols, bf16.scales, bf16.blockSize]).toEqual(['bfloat16', 6, 40, null, null]);
    expect(bf16.codes.dtype).toBe('int32');
    expect(bf16.bytes).toBe(6 * 40 * 2);
    expect(int8.bytes).toBe(6 * 40 + 4 * 6 * 2); // two blocks of 32 (the second short) per row
    const decoded = bf16.decode();
    expect(decoded.dataSync()).toEqual(decodeWeight(encodeWeight(data, 6, 40, 'bfloat16')));
    expect(int8.encoded()).toEqual(encodeWeight(data, 6, 40, 'int8'));
    decoded.dispose();
    bf16.dispose();
    int8.dispose();
    int8.dispose();
    expect(int8.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => reducedMatMul(tf.zeros([1, 40]), int8, true)).toThrow(ConfigError);
  });

  it('pads code bytes to whole words for odd shapes', () => {
    const w = ReducedWeight.fromFloat32(randomValues(3 * 5), 3, 5, 'int8');
    expect(w.codes.size).toBe(4); // 15 bytes → 4 words
    expect(w.encoded().codes.byteLength).toBe(15);
    w.dispose();
  });
});

describe('reducedMatMul (reference path)', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 7, 33],
    [9, 64, 40],
    [4, 3, 520],
  ];
  for (const dtype of ['bfloat16', 'int8'] as const) {
    for (const [n, rows, cols] of shapes) {
      for (const transposeW of [true, false]) {
        it(`${dtype} x[${n}, ${transposeW ? cols : rows}]·W[${rows}, ${cols}]${transposeW ? 'ᵀ' : ''} matches float64 on the decoded W within fp32 rounding`, () => {
          const data = randomValues(rows * cols);
          const w = ReducedWeight.fromFloat32(data, rows, cols, dtype);
          const exact = decodeWeight(encodeWeight(data, rows, cols, dtype));
          const k = transposeW ? cols : rows;
          const x = randomValues(n * k);
          const before = tf.memory().numTensors;
          const y = reducedMatMul(tf.tensor2d(x, [n, k]), w, transposeW);
          expect(tf.memory().numTensors).toBe(before + 2); // x and y only: the decoded W was freed
          expect(y.shape).toEqual([n, transposeW ? rows : cols]);
          const { value, bound } = f64Product(x, n, exact, rows, cols, transposeW);
          const got = y.dataSync();
          for (let i = 0; i < value.length; i++) expect(Math.abs((got[i] as number) - (value[i] as number))).toBeLessThanOrEqual(bound[i] as number);
          tf.dispose(y);
          w.dispose();
        });
      }
    }
  }

  it('refuses inputs of the wrong width, naming the weight', () => {
    const w = ReducedWeight.fromFloat32(randomValues(4 * 8), 4, 8, 'bfloat16', 'o_proj');
    expect(() => reducedMatMul(tf.zeros([2, 4]), w, true)).toThrow(ShapeError);
    expect(() => reducedMatMul(tf.zeros([2, 8]), w, false)).toThrow(/o_proj/);
    w.dispose();
  });

  for (const transposeW of [true, false]) {
    it(`has the gradient of x·W${transposeW ? 'ᵀ' : ''} with respect to x (finite differences)`, () => expectReducedMatMulGrads('int8', 6, 5, 3, transposeW));
  }
});

describe('reducedGather (reference path)', () => {
  for (const dtype of ['bfloat16', 'int8'] as const) {
    for (const cols of [64, 7]) {
      it(`${dtype}, ${cols} columns: equals the decoded rows, and refuses ids out of range`, () => {
        const data = randomValues(10 * cols);
        const w = ReducedWeight.fromFloat32(data, 10, cols, dtype, 'embed_tokens');
        const ids = [9, 0, 4, 4, 2];
        const before = tf.memory().numTensors;
        const rows = reducedGather(w, tf.tensor1d(ids, 'int32'));
        expect(tf.memory().numTensors).toBe(before + 2);
        expect(rows.shape).toEqual([ids.length, cols]);
        expect(rows.dataSync()).toEqual(decodeWeightRows(encodeWeight(data, 10, cols, dtype), ids));
        expect(() => reducedGather(w, tf.tensor1d([10], 'int32'))).toThrow(/outside \[0, 10\).*embed_tokens/);
        w.dispose();
      });
    }
  }
});
