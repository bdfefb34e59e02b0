import { afterEach, describe, expect, it } from 'vitest';
import { Rng } from './random.js';
import { gaussianMatrix, orthonormalityError, reconstructionError } from './svd-checks.test-helper.js';
import { svd } from './svd-exact.js';
import { gemmABt, gemmABtScalar } from './svd-gemm.js';
import { beginPanel, gemmABtWasm, panelGemvN, panelGemvT, setWasmKernelsEnabled, setWasmScratchDoubles, wasmKernelsAvailable } from './svd-wasm-kernels.js';

const rng = Rng.fromSeed(99);
const random = (len: number) => Float64Array.from({ length: len }, () => rng.normal());

/** Reference C = A·Bᵀ by the plain triple loop, in the same strided layout. */
function naive(m: number, n: number, k: number, a: Float64Array, aOff: number, lda: number, b: Float64Array, bOff: number, ldb: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[aOff + i * lda + p] as number) * (b[bOff + j * ldb + p] as number);
      c[i * n + j] = s;
    }
  return c;
}

afterEach(() => setWasmKernelsEnabled(true));

describe('matrix-product kernels', () => {
  it('load on Node 20 (WebAssembly SIMD)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  // Different summation orders: errors are ~k·eps·max|partial sum| ≈ 1e-14 here.
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [3, 5, 7],
    [2, 4, 2],
    [7, 6, 5],
    [33, 17, 65],
    [64, 40, 31],
  ];
  for (const [m, n, k] of shapes) {
    it(`${m}×${k} · (${n}×${k})ᵀ with offsets, strides and subtract: WebAssembly and scalar agree with the triple loop`, () => {
      const lda = k + 3;
      const ldb = k + 1;
      const ldc = n + 2;
      const a = random(5 + m * lda);
      const b = random(2 + n * ldb);
      const ref = naive(m, n, k, a, 5, lda, b, 2, ldb);
      for (const kernel of ['wasm', 'scalar'] as const) {
        const c0 = random(4 + m * ldc);
        const c = Float64Array.from(c0);
        const sub = Float64Array.from(c0);
        if (kernel === 'wasm') {
          expect(gemmABtWasm(m, n, k, a, 5, lda, b, 2, ldb, c, 4, ldc, false)).toBe(true);
          expect(gemmABtWasm(m, n, k, a, 5, lda, b, 2, ldb, sub, 4, ldc, true)).toBe(true);
        } else {
          gemmABtScalar(m, n, k, a, 5, lda, b, 2, ldb, c, 4, ldc, false);
          gemmABtScalar(m, n, k, a, 5, lda, b, 2, ldb, sub, 4, ldc, true);
        }
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            const o = 4 + i * ldc + j;
            expect(Math.abs((c[o] as number) - (ref[i * n + j] as number))).toBeLessThan(1e-12);
            expect(Math.abs((sub[o] as number) - ((c0[o] as number) - (ref[i * n + j] as number)))).toBeLessThan(1e-12);
          }
        // Padding columns of C are never written.
        for (let i = 0; i < m; i++) expect(c[4 + i * ldc + n]).toBe(c0[4 + i * ldc + n]);
      }
    });
  }

  it('chunks products that exceed the scratch size, with the same result', () => {
    const [m, n, k] = [45, 38, 21];
    const a = random(m * k);
    const b = random(n * k);
    const ref = naive(m, n, k, a, 0, k, b, 0, k);
    const previous = setWasmScratchDoubles(600); // forces chunks of 12 rows of Bᵀ and 8 rows of A
    try {
      const c = new Float64Array(m * n);
      expect(gemmABtWasm(m, n, k, a, 0, k, b, 0, k, c, 0, n, false)).toBe(true);
      for (let i = 0; i < c.length; i++) expect(Math.abs((c[i] as number) - (ref[i] as number))).toBeLessThan(1e-12);
    } finally {
      setWasmScratchDoubles(previous);
    }
  });

  it('panel products read the panel-start copy, for odd and even alignments', () => {
    const m = 37;
    const n = 29;
    const a = random(m * n);
    const i0 = 3;
    expect(beginPanel(a, n, i0, i0, m - i0, n - i0)).toBe(true);
    const copy = Float64Array.from(a);
    a.fill(Number.NaN); // later writes to A must not matter
    for (const k of [3, 4, 5, 10, 26]) {
      const v = random(m - k);
      const out = new Float64Array(n);
      panelGemvT(k, k + 1, v, out, 0);
      for (let j = k + 1; j < n; j++) {
        let s = 0;
        for (let t = k; t < m; t++) s += (v[t - k] as number) * (copy[t * n + j] as number);
        expect(Math.abs(s - (out[j - k - 1] as number))).toBeLessThan(1e-13);
      }
      const u = random(n - k - 1);
      const x = new Float64Array(m);
      panelGemvN(k + 1, k + 1, u, x, 0);
      for (let t = k + 1; t < m; t++) {
        let s = 0;
        for (let j = k + 1; j < n; j++) s += (copy[t * n + j] as number) * (u[j - k - 1] as number);
        expect(Math.abs(s - (x[t - k - 1] as number))).toBeLessThan(1e-13);
      }
    }
  });

  it('svd gives the same factorisation with the kernels disabled (pure JavaScript path)', () => {
    const a = gaussianMatrix(180, 130, 5);
    const fast = svd(a);
    setWasmKernelsEnabled(false);
    expect(wasmKernelsAvailable()).toBe(false);
    expect(gemmABtWasm(1, 1, 1, new Float64Array(1), 0, 1, new Float64Array(1), 0, 1, new Float64Array(1), 0, 1, false)).toBe(false);
    const slow = svd(a);
    expect(reconstructionError(a, slow)).toBeLessThan(1e-13);
    expect(orthonormalityError(slow.U)).toBeLessThan(1e-13);
    let worst = 0;
    for (let i = 0; i < 130; i++) worst = Math.max(worst, Math.abs((fast.S[i] as number) - (slow.S[i] as number)));
    expect(worst).toBeLessThan(1e-12);
    // gemmABt itself falls back too.
    const x = random(40 * 30);
    const y = random(20 * 30);
    const c = new Float64Array(40 * 20);
    gemmABt(40, 20, 30, x, 0, 30, y, 0, 30, c, 0, 20);
    const ref = naive(40, 20, 30, x, 0, 30, y, 0, 30);
    for (let i = 0; i < c.length; i++) expect(Math.abs((c[i] as number) - (ref[i] as number))).toBeLessThan(1e-12);
  });
});

/*
 * The kernels against JavaScript that sums in their order, bit for bit
 * (svd-wasm-kernels.wat: no FMA, no reassociation). A·Bᵀ and A·u keep two
 * f64x2 lanes, one over the even and one over the odd positions of the
 * zero-padded inner dimension, and add the lanes at the end; vᵀ·A is one
 * sequential sum over the rows. Any change to the kernels' arithmetic, even
 * one that stays within the tolerances above, fails here.
 */
describe('matrix-product kernels, bit for bit', () => {
  /** x₀y₀ + x₂y₂ + … plus x₁y₁ + x₃y₃ + …, each lane summed from +0 in order, as one f64x2 accumulator does. */
  const twoLaneDot = (length: number, x: (p: number) => number, y: (p: number) => number): number => {
    const lanes = [0, 0];
    for (let p = 0; p < length + (length & 1); p++) {
      const [xp, yp] = p < length ? [x(p), y(p)] : [0, 0];
      lanes[p & 1] = (lanes[p & 1] as number) + xp * yp;
    }
    return (lanes[0] as number) + (lanes[1] as number);
  };

  it('A·Bᵀ (and C − A·Bᵀ), also in chunks', () => {
    const previous = setWasmScratchDoubles(600); // chunks must not change any sum
    try {
      for (const [m, n, k] of [
        [3, 5, 7],
        [33, 17, 64],
        [45, 38, 21],
      ] as const) {
        const a = random(m * k);
        const b = random(n * k);
        const c0 = random(m * n);
        const [c, sub] = [new Float64Array(m * n), Float64Array.from(c0)];
        expect(gemmABtWasm(m, n, k, a, 0, k, b, 0, k, c, 0, n, false)).toBe(true);
        expect(gemmABtWasm(m, n, k, a, 0, k, b, 0, k, sub, 0, n, true)).toBe(true);
        const expected = new Float64Array(m * n);
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++)
            expected[i * n + j] = twoLaneDot(
              k,
              (p) => a[i * k + p] as number,
              (p) => b[j * k + p] as number,
            );
        expect(c).toEqual(expected);
        expect(sub).toEqual(c0.map((x, i) => x - (expected[i] as number)));
      }
    } finally {
      setWasmScratchDoubles(previous);
    }
  });

  it('vᵀ·A and A·u on the panel copy, for odd and even alignments', () => {
    const [m, n, i0] = [37, 29, 3];
    const a = random(m * n);
    expect(beginPanel(a, n, i0, i0, m - i0, n - i0)).toBe(true);
    const ldw = n - i0 + ((n - i0) & 1); // the panel copy's padded row length
    for (const k of [3, 4, 5, 10, 26]) {
      const v = random(m - k);
      const out = new Float64Array(n - k - 1);
      panelGemvT(k, k + 1, v, out, 0);
      const expectedT = out.map((_, x) => {
        let s = 0;
        for (let t = k; t < m; t++) s += (v[t - k] as number) * (a[t * n + k + 1 + x] as number);
        return s;
      });
      expect(out).toEqual(expectedT);
      // A·u starts at an even distance from the padded row end: one zero-weighted column leads when needed.
      const u = random(n - k - 1);
      const x = new Float64Array(m - k - 1);
      panelGemvN(k + 1, k + 1, u, x, 0);
      const col = k + 1 - i0; // within the panel
      const lead = (ldw - col) % 2 === 0 ? col : col - 1;
      const [first, count] = [i0 + lead, ldw - lead]; // first column summed (absolute), columns summed incl. padding
      const expectedN = x.map((_, r) => {
        const t = k + 1 + r;
        return twoLaneDot(
          count,
          (p) => (first + p < n ? (a[t * n + first + p] as number) : 0),
          (p) => (first + p >= k + 1 && first + p < n ? (u[first + p - k - 1] as number) : 0),
        );
      });
      expect(x).toEqual(expectedN);
    }
  });
});
