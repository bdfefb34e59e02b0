import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';
import { assembleGemmModule } from './wasm-gemm-assembly.js';
import { setWasmGemmEnabled, wasmGemmActive } from './wasm-gemm.js';

/*
 * The wasm BatchMatMul kernel against a scalar float32 reference that sums
 * in the kernel's order (p = 0 … K−1, each product and each sum rounded to
 * fp32, no FMA): f32x4 lanes do exactly that per element, so the results
 * must be bit-identical. Any indexing, blocking, packing or remainder bug
 * breaks the equality.
 */

const rng = Rng.fromSeed(11);
const randomValues = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
const sizeOf = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** NumPy-style broadcast batch shape, and the operand batch index of each output batch. */
function broadcastBatches(aOuter: number[], bOuter: number[]): { outer: number[]; pairs: Array<[number, number]> } {
  const rank = Math.max(aOuter.length, bOuter.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(aOuter), pad(bOuter)];
  const outer = pa.map((d, i) => Math.max(d, pb[i] as number));
  const pairs: Array<[number, number]> = [];
  for (let flat = 0; flat < sizeOf(outer); flat++) {
    let [ia, ib, rest, sa, sb] = [0, 0, flat, 1, 1];
    for (let axis = rank - 1; axis >= 0; axis--) {
      const c = rest % (outer[axis] as number);
      rest = Math.floor(rest / (outer[axis] as number));
      if ((pa[axis] as number) !== 1) ia += c * sa;
      if ((pb[axis] as number) !== 1) ib += c * sb;
      sa *= pa[axis] as number;
      sb *= pb[axis] as number;
    }
    pairs.push([ia, ib]);
  }
  return { outer, pairs };
}

/** op(A)·B per output batch in the kernel's fp32 order, batches broadcast. */
function sequentialF32(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], transposeA: boolean): Float32Array {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [k, n] = bShape.slice(-2) as [number, number];
  const m = transposeA ? ac : ar;
  const { pairs } = broadcastBatches(aShape.slice(0, -2), bShape.slice(0, -2));
  const out = new Float32Array(pairs.length * m * n);
  pairs.forEach(([ga, gb], g) => {
    const [ao, bo] = [ga * ar * ac, gb * k * n];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = a[ao + (transposeA ? p * ac + i : i * ac + p)] as number;
          acc = Math.fround(acc + Math.fround(av * (b[bo + p * n + j] as number)));
        }
        out[g * m * n + i * n + j] = acc;
      }
    }
  });
  return out;
}

beforeAll(async () => {
  expect(await setupBackend('wasm')).toBe('wasm');
});

afterEach(() => setWasmGemmEnabled(true));

describe('wasm BatchMatMul kernel', () => {
  it('is installed by setupBackend and assembles to a valid module', () => {
    expect(wasmGemmActive()).toBe(true);
    expect(WebAssembly.validate(assembleGemmModule())).toBe(true);
  });

  // [aShape, bShape, transposeA]: remainders of the 4-row and 8/4/1-column
  // tiles, K = 1, K large enough that rows run in several blocks (K = 4096 →
  // 16-row blocks), batch broadcasting both ways, rank-4 batches, empty products.
  const cases: Array<[number[], number[], boolean]> = [
    [[1, 1], [1, 1], false],
    [[5, 3], [3, 13], false],
    [[7, 1], [1, 9], false],
    [[37, 4096], [4096, 12], false],
    [[4096, 37], [4096, 12], true],
    [[9, 6], [9, 17], true],
    [[4, 128, 64], [4, 64, 128], false],
    [[32, 64, 128], [32, 64, 16], true],
    [[3, 10, 7], [7, 11], false],
    [[10, 7], [3, 7, 11], false],
    [[2, 3, 5, 6], [2, 3, 6, 4], false],
    [[1, 6, 5], [4, 6, 8], true],
    [[2, 1, 3, 4], [1, 3, 4, 5], false],
    [[3, 4, 5], [2, 1, 4, 6], true],
    [[0, 4], [4, 8], false],
    [[4, 0], [0, 8], false],
  ];
  for (const [aShape, bShape, transposeA] of cases) {
    it(`[${aShape}]${transposeA ? 'ᵀ' : ''} · [${bShape}] equals the sequential fp32 product bit for bit`, () => {
      const a = randomValues(sizeOf(aShape));
      const b = randomValues(sizeOf(bShape));
      const expected = sequentialF32(a, aShape, b, bShape, transposeA);
      const out = tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), transposeA, false));
      const [m, n] = [transposeA ? aShape.at(-1) : aShape.at(-2), bShape.at(-1)] as [number, number];
      const { outer } = broadcastBatches(aShape.slice(0, -2), bShape.slice(0, -2));
      expect(out.shape).toEqual([...outer, m, n]);
      expect(out.dataSync()).toEqual(expected);
      out.dispose();
    });
  }

  it('leaves a transposed right operand to the stock kernel, with a correct result', () => {
    const a = randomValues(2 * 3 * 4);
    const b = randomValues(2 * 5 * 4);
    const out = tf.tidy(() => tf.matMul(tf.tensor3d(a, [2, 3, 4]), tf.tensor3d(b, [2, 5, 4]), false, true));
    const values = out.dataSync();
    for (let g = 0; g < 2; g++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          let s = 0;
          for (let p = 0; p < 4; p++) s += (a[g * 12 + i * 4 + p] as number) * (b[g * 20 + j * 4 + p] as number);
          expect(values[(g * 3 + i) * 5 + j]).toBeCloseTo(s, 5);
        }
      }
    }
    out.dispose();
  });

  it('can be switched off (the stock kernel then computes the same product within fp32 rounding)', () => {
    const a = randomValues(64 * 48);
    const b = randomValues(48 * 40);
    const ours = tf.tidy(() => tf.matMul(tf.tensor2d(a, [64, 48]), tf.tensor2d(b, [48, 40])));
    setWasmGemmEnabled(false);
    expect(wasmGemmActive()).toBe(false);
    const stock = tf.tidy(() => tf.matMul(tf.tensor2d(a, [64, 48]), tf.tensor2d(b, [48, 40])));
    // |error| of a 48-term fp32 sum of products in (−1, 1): ≤ 48 · 2⁻²⁴ · 48 ≈ 1.4e-4
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, stock))).dataSync()[0] as number);
    expect(diff).toBeLessThan(1.4e-4);
    tf.dispose([ours, stock]);
  });
});
