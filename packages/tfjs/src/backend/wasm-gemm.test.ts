import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';
import gemmBytes from './wasm-gemm.wat';
import { setWasmGemmEnabled, setWasmGemmFma, wasmGemmActive } from './wasm-gemm.js';

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

/** op(A)·op(B) per output batch in the kernel's fp32 order, batches broadcast. */
function sequentialF32(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], transposeA: boolean, transposeB: boolean): Float32Array {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const [k, n] = transposeB ? [bc, br] : [br, bc];
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
          const bv = b[bo + (transposeB ? j * k + p : p * n + j)] as number;
          acc = Math.fround(acc + Math.fround(av * bv));
        }
        out[g * m * n + i * n + j] = acc;
      }
    }
  });
  return out;
}

beforeAll(async () => {
  setWasmGemmFma(false); // the fp32 kernel, also where the engine has relaxed SIMD (wasm-gemm-fma.test.ts covers the fused one)
  expect(await setupBackend('wasm')).toBe('wasm');
});

afterEach(() => setWasmGemmEnabled(true));

describe('wasm BatchMatMul kernel', () => {
  it('is installed by setupBackend and assembles to a valid module', () => {
    expect(wasmGemmActive()).toBe(true);
    expect(WebAssembly.validate(gemmBytes)).toBe(true);
  });

  // [aShape, bShape, transposeA, transposeB]: remainders of the 4-row and 8/4/1-column
  // tiles, K = 1, K above 512 (run in 256-wide blocks that resume from C,
  // with partial last blocks), batch broadcasting both ways, rank-4 batches,
  // empty products (K = 0 writes zeros).
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[1, 1], [1, 1], false, false],
    [[5, 3], [3, 13], false, false],
    [[5, 3], [13, 3], false, true],
    [[7, 1], [1, 9], false, false],
    [[37, 4096], [4096, 12], false, false],
    [[37, 4096], [12, 4096], false, true],
    [[4096, 37], [4096, 12], true, false],
    [[1100, 9], [1100, 13], true, false],
    [[5, 700], [17, 700], false, true],
    [[9, 6], [9, 17], true, false],
    [[9, 6], [17, 9], true, true],
    [[4, 128, 64], [4, 64, 128], false, false],
    [[4, 128, 64], [4, 128, 64], false, true],
    [[32, 64, 128], [32, 64, 16], true, false],
    [[3, 10, 7], [7, 11], false, false],
    [[10, 7], [3, 7, 11], false, false],
    [[2, 3, 5, 6], [2, 3, 6, 4], false, false],
    [[1, 6, 5], [4, 6, 8], true, false],
    [[2, 1, 3, 4], [1, 3, 4, 5], false, false],
    [[3, 4, 5], [2, 1, 6, 4], true, true],
    [[0, 4], [4, 8], false, false],
    [[4, 0], [0, 8], false, false],
  ];
  for (const [aShape, bShape, transposeA, transposeB] of cases) {
    it(`[${aShape}]${transposeA ? 'ᵀ' : ''} · [${bShape}]${transposeB ? 'ᵀ' : ''} equals the sequential fp32 product bit for bit`, () => {
      const a = randomValues(sizeOf(aShape));
      const b = randomValues(sizeOf(bShape));
      const expected = sequentialF32(a, aShape, b, bShape, transposeA, transposeB);
      const out = tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), transposeA, transposeB));
      const [m, n] = [transposeA ? aShape.at(-1) : aShape.at(-2), transposeB ? bShape.at(-2) : bShape.at(-1)] as [number, number];
      const { outer } = broadcastBatches(aShape.slice(0, -2), bShape.slice(0, -2));
      expect(out.shape).toEqual([...outer, m, n]);
      expect(out.dataSync()).toEqual(expected);
      out.dispose();
    });
  }

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
