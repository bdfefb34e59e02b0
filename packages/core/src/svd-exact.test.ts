import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NonFiniteError, ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';
import { fixturePath } from './testing/fixtures.js';
import { parseSafetensors, tensorToFloat32 } from './safetensors.js';
import { gaussianMatrix, knownSpectrum, orthonormalityError, reconstructionError, singularValuesViaGram } from './svd-checks.test-helper.js';
import { svd } from './svd-exact.js';
import type { SvdResult } from './svd-types.js';

/** Checks every property a thin SVD must have; tolerances are explained where used. */
function expectValidSvd(a: Matrix, r: SvdResult, tol = 1e-12): void {
  const k = Math.min(a.rows, a.cols);
  expect(r.U.rows).toBe(a.rows);
  expect(r.U.cols).toBe(k);
  expect(r.Vt.rows).toBe(k);
  expect(r.Vt.cols).toBe(a.cols);
  expect(r.S.length).toBe(k);
  for (let i = 0; i < k; i++) {
    expect(r.S[i]).toBeGreaterThanOrEqual(0);
    if (i > 0) expect(r.S[i]).toBeLessThanOrEqual(r.S[i - 1] as number);
  }
  expect(reconstructionError(a, r)).toBeLessThanOrEqual(tol);
  expect(orthonormalityError(r.U)).toBeLessThanOrEqual(tol);
  expect(orthonormalityError(r.Vt, true)).toBeLessThanOrEqual(tol);
  expectSignConvention(r);
}

function expectSignConvention(r: SvdResult): void {
  const { rows, cols } = r.U;
  for (let c = 0; c < cols; c++) {
    let best = 0;
    for (let i = 1; i < rows; i++) {
      if (Math.abs(r.U.data[i * cols + c] as number) > Math.abs(r.U.data[best * cols + c] as number)) best = i;
    }
    expect(r.U.data[best * cols + c]).toBeGreaterThan(0);
  }
}

function maxAbsSpectrumDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

// Householder + QR is backward stable: errors are a small multiple of
// eps ≈ 1.1e-16 times √(size) or so. 1e-12 leaves ~100× headroom on these sizes.
describe('svd: shapes', () => {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [1, 7],
    [7, 1],
    [2, 2],
    [3, 5],
    [5, 3],
    [40, 40],
    [97, 31],
    [31, 97],
    [172, 64],
    [64, 172],
    [150, 150],
  ];
  for (const [m, n] of shapes) {
    it(`${m}×${n} Gaussian: reconstruction, orthonormality, σ vs Jacobi eig(AᵀA)`, () => {
      const a = gaussianMatrix(m, n, 1000 + m * 7 + n);
      const r = svd(a);
      expectValidSvd(a, r);
      // Gaussian matrices of these shapes have cond ≲ 1e3, so √eig of the Gram
      // matrix is accurate to eps·σ_max²/σ_min ≲ 1e-10 absolute.
      expect(maxAbsSpectrumDiff(r.S, singularValuesViaGram(a))).toBeLessThanOrEqual(1e-9);
    });
  }

  it('accepts Float32 storage and gives the same result as its Float64 copy', () => {
    const a64 = gaussianMatrix(30, 20, 5);
    const a32 = { rows: 30, cols: 20, data: Float32Array.from(a64.data) };
    const r32 = svd(a32);
    const r64 = svd({ rows: 30, cols: 20, data: Float64Array.from(a32.data) });
    expect(r32.S).toEqual(r64.S);
    expect(r32.U.data).toEqual(r64.U.data);
    expectValidSvd(a32, r32);
  });
});

describe('svd: hard spectra', () => {
  it('cond 1e8 known spectrum (Q1·diag(s)·Q2ᵀ): every σ to 1e-15 absolute, smallest vectors recovered', () => {
    const n = 60;
    const s = Float64Array.from({ length: n }, (_, i) => 10 ** (-8 * (i / (n - 1))));
    const a = knownSpectrum(80, n, s, 42);
    const r = svd(a);
    expectValidSvd(a, r);
    // Forming A in float64 already perturbs σ by ~eps·‖A‖·√n ≈ 1e-15; the SVD adds
    // the same order. So absolute 1e-14 (σ_max = 1), i.e. relative 1e-6 at σ_min = 1e-8.
    expect(maxAbsSpectrumDiff(r.S, s)).toBeLessThanOrEqual(1e-14);
    expect(Math.abs((r.S[n - 1] as number) / 1e-8 - 1)).toBeLessThanOrEqual(1e-6);
  });

  it('rank-deficient A = X·Y (rank 5 of 50×40): 35 σ at rounding level, factors still orthonormal', () => {
    const x = gaussianMatrix(50, 5, 3);
    const y = gaussianMatrix(5, 40, 4);
    const data = new Float64Array(50 * 40);
    for (let i = 0; i < 50; i++)
      for (let p = 0; p < 5; p++) for (let j = 0; j < 40; j++) data[i * 40 + j] = (data[i * 40 + j] as number) + (x.data[i * 5 + p] as number) * (y.data[p * 40 + j] as number);
    const a = { rows: 50, cols: 40, data };
    const r = svd(a);
    expectValidSvd(a, r);
    const s0 = r.S[0] as number;
    expect(r.S[4] as number).toBeGreaterThan(1e-3 * s0);
    for (let i = 5; i < 40; i++) expect(r.S[i] as number).toBeLessThanOrEqual(1e-14 * s0);
  });

  it('zero, identity and repeated-σ matrices', () => {
    const zero = { rows: 6, cols: 4, data: new Float64Array(24) };
    const rz = svd(zero);
    expect(Array.from(rz.S)).toEqual([0, 0, 0, 0]);
    expect(orthonormalityError(rz.U)).toBeLessThanOrEqual(1e-15);
    expect(orthonormalityError(rz.Vt, true)).toBeLessThanOrEqual(1e-15);
    const eye = new Float64Array(25);
    for (let i = 0; i < 5; i++) eye[i * 6] = 1;
    const ri = svd({ rows: 5, cols: 5, data: eye });
    expect(maxAbsSpectrumDiff(ri.S, new Float64Array(5).fill(1))).toBe(0);
    const repeated = knownSpectrum(
      30,
      30,
      Float64Array.from({ length: 30 }, (_, i) => (i < 10 ? 3 : i < 20 ? 1 : 0.5)),
      9,
    );
    const rr = svd(repeated);
    expectValidSvd(repeated, rr);
    expect(
      maxAbsSpectrumDiff(
        rr.S,
        Float64Array.from({ length: 30 }, (_, i) => (i < 10 ? 3 : i < 20 ? 1 : 0.5)),
      ),
    ).toBeLessThan(1e-13);
  });

  it('divide-and-conquer path (> 32 columns): repeated σ, zero matrix, duplicated columns', () => {
    const spectrum = Float64Array.from({ length: 90 }, (_, i) => (i < 30 ? 3 : i < 60 ? 1 : 0));
    const clustered = knownSpectrum(100, 90, spectrum, 13);
    const rc = svd(clustered);
    expectValidSvd(clustered, rc);
    // Exact ties deflate (Gu & Eisenstat); the values stay at rounding distance.
    expect(maxAbsSpectrumDiff(rc.S, spectrum)).toBeLessThan(1e-13);
    const zero = { rows: 60, cols: 50, data: new Float64Array(3000) };
    const rz = svd(zero);
    expect(Array.from(rz.S).every((x) => x === 0)).toBe(true);
    expect(orthonormalityError(rz.U)).toBeLessThanOrEqual(1e-14);
    expect(orthonormalityError(rz.Vt, true)).toBeLessThanOrEqual(1e-14);
    const dup = gaussianMatrix(70, 60, 21);
    for (let i = 0; i < 70; i++) for (let j = 30; j < 60; j++) dup.data[i * 60 + j] = dup.data[i * 60 + j - 30] as number;
    const rd = svd(dup);
    expectValidSvd(dup, rd);
    for (let i = 30; i < 60; i++) expect(rd.S[i] as number).toBeLessThan(1e-13 * (rd.S[0] as number));
  });

  it('blocked bidiagonalisation path (> 96 columns): 300×260 and 260×300 agree with the Gram eigenvalues', () => {
    for (const [m, n] of [
      [300, 260],
      [260, 300],
    ] as const) {
      const a = gaussianMatrix(m, n, m + n);
      const r = svd(a);
      expectValidSvd(a, r);
      // cond ≈ 30 for these shapes, so the Jacobi/Gram reference is good to ~1e-12.
      expect(maxAbsSpectrumDiff(r.S, singularValuesViaGram(a))).toBeLessThanOrEqual(1e-9);
    }
  });

  it('graded and tiny-scaled matrices', () => {
    for (const size of [25, 100]) {
      const a = gaussianMatrix(size, size, 11);
      for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) a.data[i * size + j] = (a.data[i * size + j] as number) * 10 ** (-i / 12);
      expectValidSvd(a, svd(a));
    }
    const tiny = gaussianMatrix(12, 9, 12);
    for (let i = 0; i < tiny.data.length; i++) tiny.data[i] = (tiny.data[i] as number) * 1e-150;
    expectValidSvd(tiny, svd(tiny));
  });
});

describe('svd: determinism and errors', () => {
  it('is deterministic bit for bit', () => {
    const a = gaussianMatrix(70, 45, 77);
    const r1 = svd(a);
    const r2 = svd(a);
    expect(r2.S).toEqual(r1.S);
    expect(r2.U.data).toEqual(r1.U.data);
    expect(r2.Vt.data).toEqual(r1.Vt.data);
  });

  it('does not modify its input', () => {
    const a = gaussianMatrix(20, 30, 8);
    const copy = Float64Array.from(a.data);
    svd(a);
    expect(a.data).toEqual(copy);
  });

  it('rejects NaN/Inf with NonFiniteError naming the tensor, empty or inconsistent shapes with ShapeError', () => {
    const bad = gaussianMatrix(4, 4, 1);
    bad.data[6] = Number.NaN;
    expect(() => svd(bad, { name: 'model.layers.0.self_attn.q_proj.weight' })).toThrow(NonFiniteError);
    expect(() => svd(bad, { name: 'model.layers.0.self_attn.q_proj.weight' })).toThrow(/q_proj\.weight/);
    bad.data[6] = Number.POSITIVE_INFINITY;
    expect(() => svd(bad)).toThrow(NonFiniteError);
    expect(() => svd({ rows: 0, cols: 3, data: new Float64Array(0) }, { name: 'w' })).toThrow(ShapeError);
    expect(() => svd({ rows: 2, cols: 3, data: new Float64Array(5) }, { name: 'w' })).toThrow(/tensor w/);
  });
});

describe('svd: stories260K weights', () => {
  const file = fixturePath('reference', 'hf', 'stories260K', 'model.safetensors');
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const weights = [...parsed.tensors].filter(([, t]) => t.shape.length === 2);
  const launch = JSON.parse(readFileSync(fixturePath('reference', 'lora-dash-trajectory', 'launch.json'), 'utf8')) as {
    modules: Record<string, { sigma: number[] }>;
  };

  it('covers every weight matrix of the model', () => {
    // 5 layers × 7 linears + the embedding; norms are 1-D.
    expect(weights.length).toBe(36);
  });

  for (const [name, t] of weights) {
    it(`${name} [${t.shape.join(', ')}]`, () => {
      const [rows, cols] = t.shape as [number, number];
      const a = { rows, cols, data: tensorToFloat32(t, name) };
      const r = svd(a, { name });
      // Brief: ≤ 1e-10 for reconstruction and orthonormality (we see ~1e-15).
      expectValidSvd(a, r, 1e-10);
      // float64 reference by an independent algorithm (Jacobi on the Gram
      // matrix); these weights have cond < 1e4, so that reference is good to
      // ~eps·σ_max²/σ_min ≲ 1e-11 and 1e-6 is the brief's bound.
      expect(maxAbsSpectrumDiff(r.S, singularValuesViaGram(a))).toBeLessThanOrEqual(1e-6);
      const sigma = launch.modules[name.replace(/\.weight$/, '')]?.sigma;
      if (sigma !== undefined) {
        // torch fp32 SVD of the same fp32 W: its error is ~eps32·σ_max·√n ≈ 1e-6·σ_max (we see 4.6e-7·σ_max).
        const ref = Float64Array.from(sigma);
        expect(maxAbsSpectrumDiff(r.S, ref)).toBeLessThanOrEqual(2e-6 * (r.S[0] as number));
      }
    });
  }

  it('matches torch σ for all 10 LoRA-Dash modules in launch.json', () => {
    const names = Object.keys(launch.modules);
    expect(names.length).toBe(10);
    for (const module of names) expect(parsed.tensors.has(`${module}.weight`)).toBe(true);
  });
});
