import { changeRates } from './change-rates.js';
import { ShapeError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import { assertFinite, type Matrix } from './matrix.js';
import { svd as exactSvd } from './svd-exact.js';
import type { SvdResult } from './svd-types.js';

/** One singular direction of W with its change rate under ΔW. */
export interface SpectrumEntry {
  /** Index in the SVD (0 = largest σ). */
  readonly index: number;
  readonly sigma: number;
  /** δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ. */
  readonly rate: number;
  /** uᵢᵀ ΔW vᵢ, signed. */
  readonly projection: number;
}

/**
 * Change rate of every direction, as records sorted by σ descending (ties by
 * index) — the x/y data of the paper's "change rate vs singular value"
 * pictures, where TSDs show up as spikes among the small-σ directions.
 */
export function changeRateSpectrum(svd: SvdResult, delta: LoraFactors | Matrix, name = 'delta'): SpectrumEntry[] {
  const { rates, projections, sigma } = changeRates(svd, delta, name);
  const entries: SpectrumEntry[] = [];
  for (let i = 0; i < rates.length; i++) {
    entries.push({ index: i, sigma: sigma[i] as number, rate: rates[i] as number, projection: projections[i] as number });
  }
  return entries.sort((a, b) => b.sigma - a.sigma || a.index - b.index);
}

/**
 * The shared fraction of two direction sets, |a ∩ b| / max(|a|, |b|): 1 for
 * the same set (in any order), 0 for disjoint ones. Two empty sets give 1.
 */
export function tsdOverlap(a: Int32Array, b: Int32Array): number {
  const setA = new Set(a);
  const setB = new Set(b);
  const size = Math.max(setA.size, setB.size);
  if (size === 0) return 1;
  let shared = 0;
  for (const i of setA) if (setB.has(i)) shared++;
  return shared / size;
}

/**
 * Principal angles (radians, ascending) between the column spaces of Ua
 * [n, p] and Ub [n, q] (Björck & Golub 1973): orthonormalise both (modified
 * Gram–Schmidt, twice, in float64; a column whose remaining norm falls below
 * `tol` × its original norm is dependent and dropped), then θᵢ = arccos σᵢ
 * of QaᵀQb, with σᵢ clamped to [0, 1]. Returns min(rank a, rank b) angles.
 * Being arccos-based, angles below ~1e-8 are not resolved (cos θ ≈ 1 − θ²/2).
 */
export function principalAngles(Ua: Matrix, Ub: Matrix, options: { tol?: number; name?: string } = {}): Float64Array {
  const name = options.name ?? 'subspace';
  if (Ua.rows !== Ub.rows) {
    throw new ShapeError(`subspaces live in different spaces: [${Ua.rows}, ${Ua.cols}] vs [${Ub.rows}, ${Ub.cols}]`, {
      tensor: name,
      shape: [Ua.rows, Ua.cols, Ub.rows, Ub.cols],
    });
  }
  assertFinite(Ua, `${name}.a`);
  assertFinite(Ub, `${name}.b`);
  const tol = options.tol ?? 1e-10;
  const Qa = orthonormalColumns(Ua, tol);
  const Qb = orthonormalColumns(Ub, tol);
  const p = Qa.length;
  const q = Qb.length;
  if (p === 0 || q === 0) return new Float64Array(0);
  const n = Ua.rows;
  const cross = new Float64Array(p * q);
  for (let i = 0; i < p; i++) {
    const a = Qa[i] as Float64Array;
    for (let j = 0; j < q; j++) {
      const b = Qb[j] as Float64Array;
      let dot = 0;
      for (let t = 0; t < n; t++) dot += (a[t] as number) * (b[t] as number);
      cross[i * q + j] = dot;
    }
  }
  const { S } = exactSvd({ rows: p, cols: q, data: cross }, { name: `${name}.QaᵀQb` });
  const angles = new Float64Array(S.length);
  // S is descending, so the angles come out ascending.
  for (let i = 0; i < S.length; i++) angles[i] = Math.acos(Math.min(1, Math.max(0, S[i] as number)));
  return angles;
}

/** Orthonormal basis of the column space of m, as column vectors (MGS with one re-orthogonalisation pass). */
function orthonormalColumns(m: Matrix, tol: number): Float64Array[] {
  const n = m.rows;
  const basis: Float64Array[] = [];
  for (let c = 0; c < m.cols; c++) {
    const v = new Float64Array(n);
    for (let t = 0; t < n; t++) v[t] = m.data[t * m.cols + c] as number;
    const norm0 = norm(v);
    if (norm0 === 0) continue;
    // Two passes of MGS ("twice is enough", Giraud et al. 2005) keep Q orthonormal to ~ε.
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let dot = 0;
        for (let t = 0; t < n; t++) dot += (b[t] as number) * (v[t] as number);
        for (let t = 0; t < n; t++) v[t] = (v[t] as number) - dot * (b[t] as number);
      }
    }
    const nv = norm(v);
    if (nv <= tol * norm0) continue;
    for (let t = 0; t < n; t++) v[t] = (v[t] as number) / nv;
    basis.push(v);
  }
  return basis;
}

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) * (v[i] as number);
  return Math.sqrt(s);
}
