import { describe, expect, it } from 'vitest';
import { Rng } from './random.js';
import { bidiagonalSvdDc } from './svd-bidiagonal-dc.js';
import { bidiagonalQr } from './svd-bidiagonal-qr.js';
import { solveArrow } from './svd-secular.js';

function identity(n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

/** max |U·S·Vᵀ − B| / max|B|, max |UᵀU − I|, max |VᵀV − I| and σ vs bidiagonal QR. */
function check(d: Float64Array, e: Float64Array): { rec: number; orth: number; sigma: number } {
  const n = d.length;
  const r = bidiagonalSvdDc(Float64Array.from(d), Float64Array.from(e), 'B');
  let rec = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += (r.u[i * n + p] as number) * (r.s[p] as number) * (r.v[j * n + p] as number);
      const b = i === j ? (d[i] as number) : j === i + 1 ? (e[i] as number) : 0;
      rec = Math.max(rec, Math.abs(s - b));
      scale = Math.max(scale, Math.abs(b));
    }
  }
  let orth = 0;
  for (let p = 0; p < n; p++) {
    for (let q = p; q < n; q++) {
      let uu = 0;
      let vv = 0;
      for (let i = 0; i < n; i++) {
        uu += (r.u[i * n + p] as number) * (r.u[i * n + q] as number);
        vv += (r.v[i * n + p] as number) * (r.v[i * n + q] as number);
      }
      orth = Math.max(orth, Math.abs(uu - (p === q ? 1 : 0)), Math.abs(vv - (p === q ? 1 : 0)));
    }
  }
  const d2 = Float64Array.from(d);
  bidiagonalQr(d2, Float64Array.from(e), identity(n), n, identity(n), n);
  const a = Array.from(r.s).sort((x, y) => y - x);
  const b = Array.from(d2).sort((x, y) => y - x);
  let sigma = 0;
  for (let i = 0; i < n; i++) sigma = Math.max(sigma, Math.abs((a[i] as number) - (b[i] as number)));
  for (const x of r.s) expect(x).toBeGreaterThanOrEqual(0);
  return { rec: scale === 0 ? rec : rec / scale, orth, sigma: scale === 0 ? sigma : sigma / scale };
}

const rng = Rng.fromSeed(2024);
const normals = (n: number, f: (i: number) => number = () => 1) => Float64Array.from({ length: n }, (_, i) => rng.normal() * f(i));

// Divide and conquer is backward stable with errors of a few eps·‖B‖·log n; 1e-13
// leaves ~100× headroom at these sizes (we see ≤ 1e-14), and the vectors must be
// orthonormal to the same level thanks to Löwner's recomputed z.
const cases: Array<[string, Float64Array, Float64Array]> = [
  ['random n=25 (one leaf)', normals(25), normals(24)],
  ['random n=26 (one merge)', normals(26), normals(25)],
  ['random n=200', normals(200), normals(199)],
  ['identity (every z deflates)', new Float64Array(90).fill(1), new Float64Array(89)],
  ['every third d zero', normals(100, (i) => (i % 3 === 0 ? 0 : 1)), normals(99)],
  ['tiny and zero e (splits)', normals(100), normals(99, (i) => (i % 5 === 0 ? 0 : 1e-9))],
  ['graded 1 … 1e-10', Float64Array.from({ length: 100 }, (_, i) => 10 ** (-i / 10)), Float64Array.from({ length: 99 }, (_, i) => 0.5 * 10 ** (-i / 10))],
  ['Toeplitz (2, 1): clustered σ', new Float64Array(100).fill(2), new Float64Array(99).fill(1)],
  ['scaled to 1e-150', normals(64, () => 1e-150), normals(63, () => 1e-150)],
  ['single non-zero', Float64Array.from({ length: 100 }, (_, i) => (i === 5 ? 1 : 0)), new Float64Array(99)],
];

describe('bidiagonalSvdDc', () => {
  for (const [label, d, e] of cases) {
    it(label, () => {
      const { rec, orth, sigma } = check(d, e);
      expect(rec).toBeLessThan(1e-13);
      expect(orth).toBeLessThan(1e-13);
      expect(sigma).toBeLessThan(1e-13);
    });
  }

  it('all-zero bidiagonal gives σ = 0 and orthonormal factors', () => {
    const r = bidiagonalSvdDc(new Float64Array(60), new Float64Array(59), 'B');
    expect(Array.from(r.s).every((x) => x === 0)).toBe(true);
    const { orth } = check(new Float64Array(60), new Float64Array(59));
    expect(orth).toBeLessThan(1e-15);
  });
});

describe('solveArrow', () => {
  it('matches the dense SVD of a small broken arrow', () => {
    const d = Float64Array.from([0, 0.1, 0.5, 0.50001, 2]);
    const z = Float64Array.from([0.3, -0.2, 1e-3, 0.7, 0.05]);
    const { sigma, x, y } = solveArrow(d, z);
    const K = d.length;
    // M = e₀zᵀ + diag(d); check M·yᵢ = σᵢ·xᵢ and interlacing dᵢ < σᵢ < dᵢ₊₁.
    for (let i = 0; i < K; i++) {
      expect(sigma[i] as number).toBeGreaterThan(d[i] as number);
      if (i + 1 < K) expect(sigma[i] as number).toBeLessThan(d[i + 1] as number);
      for (let r = 0; r < K; r++) {
        let my = r === 0 ? 0 : (d[r] as number) * (y[r * K + i] as number);
        if (r === 0) for (let j = 0; j < K; j++) my += (z[j] as number) * (y[j * K + i] as number);
        expect(Math.abs(my - (sigma[i] as number) * (x[r * K + i] as number))).toBeLessThan(1e-14);
      }
    }
    // Σσᵢ² = ‖M‖_F² = Σdⱼ² + Σzⱼ² (trace identity).
    let lhs = 0;
    let rhs = 0;
    for (let j = 0; j < K; j++) {
      lhs += (sigma[j] as number) ** 2;
      rhs += (d[j] as number) ** 2 + (z[j] as number) ** 2;
    }
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-14);
  });
});
