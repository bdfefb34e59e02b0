import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ReducedWeight, reducedMatMul } from './reduced-weight.js';
import { setupBackend } from './setup.js';
import { setWasmGemmFma, wasmGemmActive, wasmGemmFmaActive } from './wasm-gemm.js';

/*
 * The fused (relaxed-SIMD FMA) kernel against fp32 references. Node 20 needs
 * `--experimental-wasm-relaxed-simd`; this file turns it on for its own
 * process before the kernels load (V8 reads wasm feature flags when it
 * validates a module), as the command-line flag would. Node ≥ 22 has it on.
 */

const u = 2 ** -24; // unit roundoff of fp32
const rng = Rng.fromSeed(23);
const randomValues = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));

/** fl32(acc + a·b) with one rounding (what a fused multiply-add returns), exactly, in float64. */
function fusedStep(acc: number, a: number, b: number): number {
  const p = a * b; // exact: 24 + 24 significant bits fit in 53
  const s = acc + p;
  const t = s - acc;
  const err = acc - (s - t) + (p - t); // TwoSum: s + err = acc + p exactly
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // Only when s is exactly halfway between two floats can the double rounding of s mislead: err says which way.
  const other = r + 2 * (s - r);
  if (Math.fround(other) !== other) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

/** C = A·B (A m×k, B k×n, row-major): each element one sequential sum over p, steps fused or rounded twice. */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, fused: (j: number) => boolean) {
  const out = new Float32Array(m * n);
  const bound = new Float64Array(m * n); // Σₚ |a·b| per element
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      let abs = 0;
      for (let p = 0; p < k; p++) {
        const [x, y] = [a[i * k + p] as number, b[p * n + j] as number];
        acc = fused(j) ? fusedStep(acc, x, y) : Math.fround(acc + Math.fround(x * y));
        abs += Math.abs(x * y);
      }
      out[i * n + j] = acc;
      bound[i * n + j] = abs;
    }
  return { out, bound };
}

beforeAll(async () => {
  if (Number(process.versions.node.split('.')[0]) < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  expect(await setupBackend('wasm')).toBe('wasm');
  expect(wasmGemmFmaActive()).toBe(false); // opt-in
});

beforeEach(() => setWasmGemmFma(true));
afterEach(() => setWasmGemmFma(false)); // the default

// [m, k, n]: 8-, 4- and 1-column tiles, K above 512 (blocks that resume from C), K = 1.
const shapes: Array<[number, number, number]> = [
  [5, 3, 13],
  [37, 700, 12],
  [9, 1100, 21],
  [64, 256, 40],
  [3, 1, 8],
];

describe('wasm BatchMatMul kernel with relaxed-SIMD FMA', () => {
  it('runs where relaxed SIMD validates once switched on, and is off by default', () => {
    expect(wasmGemmActive()).toBe(true);
    expect(wasmGemmFmaActive()).toBe(true);
    setWasmGemmFma(false);
    expect(wasmGemmFmaActive()).toBe(false);
  });

  for (const [m, k, n] of shapes) {
    it(`[${m},${k}]·[${k},${n}] is within 2γₖ·Σ|a·b| of the fp32 kernel, and bit for bit one of the two relaxed_madd behaviours`, () => {
      const a = randomValues(m * k);
      const b = randomValues(k * n);
      const product = () => tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync() as Float32Array);
      const fma = product();
      setWasmGemmFma(false);
      const fp32 = product();
      // Both are one sequential sum over p; each is within γₖ·Σ|a·b| of the exact dot product
      // (γₖ = k·u/(1 − k·u), Higham, Accuracy and Stability §3.1: k roundings of the running sum,
      // plus the product's for the fp32 kernel, where FMA skips that one), so they differ by at most 2γₖ·Σ|a·b|.
      const gamma = (k * u) / (1 - k * u);
      const { out: unfused, bound } = reference(a, b, m, k, n, () => false);
      expect(fp32).toEqual(unfused);
      for (let e = 0; e < fma.length; e++) expect(Math.abs((fma[e] as number) - (fp32[e] as number))).toBeLessThanOrEqual(2 * gamma * (bound[e] as number));
      // relaxed_madd is fused where the CPU has FMA, else the same two roundings; the scalar tail
      // columns (j ≥ 4⌊n/4⌋) keep f32.mul + f32.add either way.
      const vectorColumns = 4 * Math.floor(n / 4);
      const { out: fused } = reference(a, b, m, k, n, (j) => j < vectorColumns);
      const matches = [fused, unfused].filter((ref) => ref.every((x, e) => Object.is(x, fma[e])));
      expect(matches.length, 'the FMA kernel matches neither the fused nor the unfused reference').toBeGreaterThan(0);
    });
  }

  // V8 emits a fused instruction for relaxed_madd on x64 with FMA3 and on arm64.
  const cpuHasFma = process.arch === 'arm64' || (process.arch === 'x64' && process.platform === 'linux' && /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')));
  it.runIf(cpuHasFma)('fuses on a CPU with FMA: bit for bit the fused reference, so not the fp32 kernel', () => {
    const a = randomValues(32 * 512);
    const b = randomValues(512 * 16);
    const run = () => tf.tidy(() => tf.matMul(tf.tensor2d(a, [32, 512]), tf.tensor2d(b, [512, 16])).dataSync() as Float32Array);
    const fma = run();
    setWasmGemmFma(false);
    const fp32 = run();
    const { out: fused } = reference(a, b, 32, 512, 16, () => true);
    expect(fma).toEqual(fused);
    expect(fma).not.toEqual(fp32);
  });
});

describe('reducedMatMul on the fused kernel', () => {
  for (const dtype of ['bfloat16', 'int8'] as const) {
    for (const transposeW of [true, false]) {
      it(`${dtype}, W${transposeW ? 'ᵀ' : ''}: bit for bit the fused fp32 kernel on the decoded W (same instance, same tiles)`, () => {
        const [n, rows, cols] = [13, 21, 700];
        const w = ReducedWeight.fromFloat32(randomValues(rows * cols), rows, cols, dtype);
        const decoded = w.decode();
        const x = tf.tensor2d(randomValues(n * (transposeW ? cols : rows)), [n, transposeW ? cols : rows]);
        const got = reducedMatMul(x, w, transposeW);
        const want = tf.matMul(x, decoded, false, transposeW);
        expect(new Uint32Array((got.dataSync() as Float32Array).slice().buffer)).toEqual(new Uint32Array((want.dataSync() as Float32Array).slice().buffer));
        tf.dispose([got, want, x, decoded]);
        w.dispose();
      });
    }
  }
});
