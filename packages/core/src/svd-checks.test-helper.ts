/**
 * Independent checks for the SVD tests: reconstruction and orthonormality
 * errors, and a cyclic Jacobi eigen-solver for Gram matrices (a different
 * algorithm from the one under test, so agreement is evidence).
 */
import type { Matrix } from './matrix.js';
import { Rng } from './random.js';
import type { SvdResult } from './svd-types.js';

/** A Float64 m×n matrix of standard normals from `seed`. */
export function gaussianMatrix(m: number, n: number, seed: number): Matrix<Float64Array> {
  const rng = Rng.fromSeed(seed);
  const data = new Float64Array(m * n);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { rows: m, cols: n, data };
}

/** ‖U·diag(S)·Vt − A‖_F / ‖A‖_F (or the absolute error when A = 0). */
export function reconstructionError(a: Matrix, r: SvdResult): number {
  const { rows: m, cols: n } = a;
  const k = r.S.length;
  let err = 0;
  let norm = 0;
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const w = (r.U.data[i * k + p] as number) * (r.S[p] as number);
      for (let j = 0; j < n; j++) row[j] = (row[j] as number) + w * (r.Vt.data[p * n + j] as number);
    }
    for (let j = 0; j < n; j++) {
      const x = a.data[i * n + j] as number;
      err += ((row[j] as number) - x) ** 2;
      norm += x * x;
    }
  }
  return norm === 0 ? Math.sqrt(err) : Math.sqrt(err / norm);
}

/** max |XᵀX − I| over the columns of X (or, with `rows`, |XXᵀ − I| over its rows). */
export function orthonormalityError(x: Matrix, byRows = false): number {
  const count = byRows ? x.rows : x.cols;
  const len = byRows ? x.cols : x.rows;
  const at = (v: number, t: number): number => (byRows ? x.data[v * x.cols + t] : x.data[t * x.cols + v]) as number;
  let worst = 0;
  for (let p = 0; p < count; p++) {
    for (let q = p; q < count; q++) {
      let s = 0;
      for (let t = 0; t < len; t++) s += at(p, t) * at(q, t);
      worst = Math.max(worst, Math.abs(s - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

/**
 * Singular values of A as √eig(G), G the smaller Gram matrix (AᵀA or AAᵀ),
 * eigenvalues by cyclic Jacobi rotations (Golub & Van Loan §8.5), descending.
 * Absolute error ≈ eps·σ_max²/σ, so only for well-conditioned matrices.
 */
export function singularValuesViaGram(a: Matrix): Float64Array {
  const { rows: m, cols: n } = a;
  const k = Math.min(m, n);
  const g = new Float64Array(k * k);
  for (let p = 0; p < k; p++) {
    for (let q = p; q < k; q++) {
      let s = 0;
      if (m >= n) for (let i = 0; i < m; i++) s += (a.data[i * n + p] as number) * (a.data[i * n + q] as number);
      else for (let j = 0; j < n; j++) s += (a.data[p * n + j] as number) * (a.data[q * n + j] as number);
      g[p * k + q] = s;
      g[q * k + p] = s;
    }
  }
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < k * k; i++) total += (g[i] as number) ** 2;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += (g[p * k + q] as number) ** 2;
    if (off <= 1e-34 * total) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const gpq = g[p * k + q] as number;
        if (gpq === 0) continue;
        const theta = ((g[q * k + q] as number) - (g[p * k + p] as number)) / (2 * gpq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let i = 0; i < k; i++) {
          const x = g[i * k + p] as number;
          const y = g[i * k + q] as number;
          g[i * k + p] = c * x - s * y;
          g[i * k + q] = s * x + c * y;
        }
        for (let i = 0; i < k; i++) {
          const x = g[p * k + i] as number;
          const y = g[q * k + i] as number;
          g[p * k + i] = c * x - s * y;
          g[q * k + i] = s * x + c * y;
        }
      }
    }
  }
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) out[i] = Math.sqrt(Math.max(0, g[i * k + i] as number));
  return out.sort().reverse();
}

/** A random n×n orthogonal matrix: Gram–Schmidt (twice) on Gaussian columns, stored row-major. */
export function randomOrthogonal(n: number, seed: number): Matrix<Float64Array> {
  const g = gaussianMatrix(n, n, seed).data; // rows are the vectors being orthonormalised
  for (let j = 0; j < n; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let t = 0; t < n; t++) dot += (g[i * n + t] as number) * (g[j * n + t] as number);
        for (let t = 0; t < n; t++) g[j * n + t] = (g[j * n + t] as number) - dot * (g[i * n + t] as number);
      }
    }
    let norm = 0;
    for (let t = 0; t < n; t++) norm += (g[j * n + t] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let t = 0; t < n; t++) g[j * n + t] = (g[j * n + t] as number) / norm;
  }
  return { rows: n, cols: n, data: g };
}

/** Q1·diag(s)·Q2ᵀ restricted to m×n, with Q1, Q2 from {@link randomOrthogonal}: a matrix of known spectrum s. */
export function knownSpectrum(m: number, n: number, s: Float64Array, seed: number): Matrix<Float64Array> {
  const q1 = randomOrthogonal(m, seed);
  const q2 = randomOrthogonal(n, seed + 1);
  const data = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < s.length; p++) {
      const w = (q1.data[i * m + p] as number) * (s[p] as number);
      for (let j = 0; j < n; j++) data[i * n + j] = (data[i * n + j] as number) + w * (q2.data[j * n + p] as number);
    }
  }
  return { rows: m, cols: n, data };
}
