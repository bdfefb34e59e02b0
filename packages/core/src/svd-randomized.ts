import { ConfigError, ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';
import { Rng } from './random.js';
import { svd } from './svd-exact.js';
import { finishSvd, validateSvdInput } from './svd-finish.js';
import { gemmABt, transposeBlock } from './svd-gemm.js';
import type { SvdResult } from './svd-types.js';

/** Options of {@link randomizedSvd}. */
export interface RandomizedSvdOptions {
  /** Number r of singular triplets returned, 1 ≤ r ≤ min(m, n). */
  rank: number;
  /** Extra sketch columns p beyond r (Halko et al. §4.2); default 10. */
  oversample?: number;
  /** Subspace (power) iterations q (Halko et al. Alg. 4.4); default 2. */
  powerIterations?: number;
  /** Seed of the Gaussian test matrix; default 0. Same seed, same result. */
  seed?: number;
  /** 'top' (default): the r largest triplets; 'bottom': the r smallest, via {@link svd}. */
  which?: 'top' | 'bottom';
  /** Tensor name used in error messages. */
  name?: string;
}

/**
 * Rank-r truncated SVD by randomized subspace iteration (Halko, Martinsson &
 * Tropp 2011, Alg. 4.4 + 5.1): a Gaussian sketch Y = A·Ω with r + p columns
 * drawn from core's seeded {@link Rng}, q power iterations re-orthonormalised
 * after every product (so small singular values are not lost to rounding), then
 * the exact SVD of the small projection B = Qᵀ·A. Costs O(m·n·(r+p)·(2q+2)).
 * Deterministic under `seed`; same sign convention as {@link svd}.
 *
 * `which: 'bottom'` falls back to the exact SVD and returns its last r triplets
 * (still in descending order): a sketch captures the dominant subspace, and the
 * smallest singular directions (MiLoRA-style initialisation) have no cheap
 * randomized counterpart of comparable accuracy.
 */
export function randomizedSvd(a: Matrix, options: RandomizedSvdOptions): SvdResult {
  const name = options.name ?? 'matrix';
  validateSvdInput(a, name);
  const { rows: m, cols: n } = a;
  const k = Math.min(m, n);
  const { rank } = options;
  if (!Number.isInteger(rank) || rank < 1 || rank > k) {
    throw new ShapeError(`rank must be an integer in [1, ${k}], got ${rank}`, { tensor: name, shape: [m, n] });
  }
  const oversample = checkCount(options.oversample ?? 10, 'oversample');
  const power = checkCount(options.powerIterations ?? 2, 'powerIterations');
  if ((options.which ?? 'top') === 'bottom') return bottomTriplets(svd(a, { name }), rank);

  const l = Math.min(rank + oversample, k);
  const rng = Rng.fromSeed(options.seed ?? 0);
  // Ωᵀ (l×n): row j is the j-th Gaussian test vector.
  const omegaT = new Float64Array(l * n);
  for (let i = 0; i < omegaT.length; i++) omegaT[i] = rng.normal();
  // A and Aᵀ in Float64 once, so every product below is one blocked kernel call.
  const a64 = a.data instanceof Float64Array ? a.data : Float64Array.from(a.data);
  const aT = transposeBlock(a64, 0, n, m, n);
  // Everything is kept transposed (one basis vector per contiguous row).
  const qT = multiplyRows(a64, m, n, omegaT, l); // (A·Ω)ᵀ, l×m
  orthonormalizeRows(qT, l, m);
  for (let it = 0; it < power; it++) {
    const zT = projectRows(aT, m, n, qT, l); // (Aᵀ·Q)ᵀ, l×n
    orthonormalizeRows(zT, l, n);
    const yT = multiplyRows(a64, m, n, zT, l);
    orthonormalizeRows(yT, l, m);
    qT.set(yT);
  }
  const bT = projectRows(aT, m, n, qT, l); // B = Qᵀ·A, l×n
  const small = svd({ rows: l, cols: n, data: bT }, { name: `${name} (sketch)` });
  // U = Q·U_B, built as Uᵀ = U_Bᵀ·Qᵀ for the leading r columns.
  const uT = new Float64Array(rank * m);
  for (let c = 0; c < rank; c++) {
    const out = c * m;
    for (let j = 0; j < l; j++) {
      const w = small.U.data[j * l + c] as number;
      if (w === 0) continue;
      const src = j * m;
      for (let t = 0; t < m; t++) uT[out + t] = (uT[out + t] as number) + w * (qT[src + t] as number);
    }
  }
  return finishSvd(small.S.slice(0, rank), uT, m, small.Vt.data.slice(0, rank * n), n);
}

function checkCount(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`randomizedSvd option ${field} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** The last r triplets of an exact SVD, keeping descending order. */
function bottomTriplets(full: SvdResult, r: number): SvdResult {
  const k = full.S.length;
  const m = full.U.rows;
  const n = full.Vt.cols;
  const U = new Float64Array(m * r);
  for (let i = 0; i < m; i++) for (let c = 0; c < r; c++) U[i * r + c] = full.U.data[i * k + k - r + c] as number;
  return {
    U: { rows: m, cols: r, data: U },
    S: full.S.slice(k - r),
    Vt: { rows: r, cols: n, data: full.Vt.data.slice((k - r) * n) },
  };
}

/** (A·X)ᵀ for A m×n and Xᵀ given as l×n rows: out[j, i] = xⱼ·A[i,:]. */
function multiplyRows(a: Float64Array, m: number, n: number, xT: Float64Array, l: number): Float64Array {
  const out = new Float64Array(l * m);
  gemmABt(l, m, n, xT, 0, n, a, 0, n, out, 0, m);
  return out;
}

/** (Aᵀ·Q)ᵀ = Qᵀ·A for Aᵀ (n×m) and Qᵀ (l×m): out[j, t] = qⱼ·Aᵀ[t,:]. */
function projectRows(aT: Float64Array, m: number, n: number, qT: Float64Array, l: number): Float64Array {
  const out = new Float64Array(l * n);
  gemmABt(l, n, m, qT, 0, m, aT, 0, m, out, 0, n);
  return out;
}

/**
 * Orthonormalises the l rows (length len) in place by modified Gram–Schmidt
 * applied twice ("twice is enough", Giraud et al. 2005). A row that vanishes
 * (rank-deficient A) is replaced by the first unit vector independent of the
 * rows before it, so the basis stays orthonormal.
 */
export function orthonormalizeRows(x: Float64Array, l: number, len: number): void {
  for (let j = 0; j < l; j++) {
    const rj = j * len;
    const before = rowNorm(x, rj, len);
    let after = 0;
    for (let pass = 0; pass < 2; pass++) {
      projectOut(x, j, len);
      after = rowNorm(x, rj, len);
    }
    if (!(after > 1e-10 * before) || after === 0) {
      for (let t = 0; t < len; t++) {
        x.fill(0, rj, rj + len);
        x[rj + t] = 1;
        projectOut(x, j, len);
        projectOut(x, j, len);
        after = rowNorm(x, rj, len);
        if (after > 0.5) break;
      }
    }
    const inv = 1 / after;
    for (let t = 0; t < len; t++) x[rj + t] = (x[rj + t] as number) * inv;
  }
}

function projectOut(x: Float64Array, j: number, len: number): void {
  const rj = j * len;
  for (let i = 0; i < j; i++) {
    const ri = i * len;
    let dot = 0;
    for (let t = 0; t < len; t++) dot += (x[ri + t] as number) * (x[rj + t] as number);
    for (let t = 0; t < len; t++) x[rj + t] = (x[rj + t] as number) - dot * (x[ri + t] as number);
  }
}

function rowNorm(x: Float64Array, offset: number, len: number): number {
  let s = 0;
  for (let t = 0; t < len; t++) s += (x[offset + t] as number) ** 2;
  return Math.sqrt(s);
}
