import { reducePanel } from './svd-bidiagonalize-panel.js';
import { makeReflector } from './svd-householder.js';

/** Columns reduced per blocked panel. */
const PANEL = 32;
/** Below this many remaining columns the unblocked loop finishes the job. */
const PANEL_CROSSOVER = 96;

/**
 * Householder bidiagonalisation A = Q·B·Pᵀ of a tall row-major m×n matrix
 * (m ≥ n), B upper bidiagonal — Golub & Kahan (1965); Golub & Van Loan,
 * Algorithm 5.4.2. While more than 96 columns remain, panels of 32 are reduced
 * with deferred updates (svd-bidiagonalize-panel.ts, LAPACK `dlabrd`); the rest
 * unblocked. The reflectors stay in `a` (LAPACK `dgebrd` layout): left vector k
 * below the diagonal of column k, right vector k right of the superdiagonal of
 * row k.
 */
export interface Bidiagonal {
  /** Diagonal of B, length n. */
  readonly d: Float64Array;
  /** Superdiagonal of B, length n − 1. */
  readonly e: Float64Array;
  /** τ of the left reflectors, length n. */
  readonly tauLeft: Float64Array;
  /** τ of the right reflectors, length n (the last two are 0). */
  readonly tauRight: Float64Array;
}

/** Bidiagonalises `a` (m×n, m ≥ n, row-major) in place; see {@link Bidiagonal}. */
export function bidiagonalize(a: Float64Array, m: number, n: number): Bidiagonal {
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  const tauLeft = new Float64Array(n);
  const tauRight = new Float64Array(n);
  const w = new Float64Array(n);
  let k0 = 0;
  // Blocked panels while the trailing matrix is large enough for the product to pay off.
  while (n - k0 > PANEL_CROSSOVER) {
    reducePanel(a, m, n, k0, PANEL, d, e, tauLeft, tauRight);
    k0 += PANEL;
  }
  for (let k = k0; k < n; k++) {
    // Left reflector: zero column k below the diagonal.
    const left = makeReflector(a, k * n + k, n, m - k);
    tauLeft[k] = left.tau;
    d[k] = left.beta;
    if (left.tau !== 0 && k + 1 < n) applyLeft(a, m, n, k, left.tau, w);
    if (k + 1 >= n) break;
    // Right reflector: zero row k right of the superdiagonal.
    const right = makeReflector(a, k * n + k + 1, 1, n - k - 1);
    tauRight[k] = right.tau;
    e[k] = right.beta;
    if (right.tau !== 0) applyRight(a, m, n, k, right.tau);
  }
  return { d, e, tauLeft, tauRight };
}

/** A[k:, k+1:] ← (I − τ·u·uᵀ)·A[k:, k+1:], u stored in column k (u₀ = 1). */
function applyLeft(a: Float64Array, m: number, n: number, k: number, tau: number, w: Float64Array): void {
  const j0 = k + 1;
  // w = uᵀ·A[k:, k+1:], accumulated row by row so every inner loop is contiguous.
  for (let j = j0; j < n; j++) w[j] = a[k * n + j] as number;
  for (let i = k + 1; i < m; i++) {
    const ui = a[i * n + k] as number;
    if (ui === 0) continue;
    const row = i * n;
    for (let j = j0; j < n; j++) w[j] = (w[j] as number) + ui * (a[row + j] as number);
  }
  for (let j = j0; j < n; j++) a[k * n + j] = (a[k * n + j] as number) - tau * (w[j] as number);
  for (let i = k + 1; i < m; i++) {
    const f = tau * (a[i * n + k] as number);
    if (f === 0) continue;
    const row = i * n;
    for (let j = j0; j < n; j++) a[row + j] = (a[row + j] as number) - f * (w[j] as number);
  }
}

/** A[k+1:, k+1:] ← A[k+1:, k+1:]·(I − τ·v·vᵀ), v stored in row k from column k+1 (v₀ = 1). */
function applyRight(a: Float64Array, m: number, n: number, k: number, tau: number): void {
  reflectRows(a, n, k + 1, m, k + 1, n, tau, a, k * n);
}

/**
 * X[r0:r1, j0:cols] ← X[r0:r1, j0:cols]·(I − τ·v·vᵀ) for a row-major X with
 * row stride ld, where v = (1, v[vOff + j0 + 1], …, v[vOff + cols − 1]): the
 * leading 1 is implicit, as reflectors are stored (LAPACK `dlarf` from the right).
 */
function reflectRows(x: Float64Array, ld: number, r0: number, r1: number, j0: number, cols: number, tau: number, v: Float64Array, vOff: number): void {
  for (let r = r0; r < r1; r++) {
    const row = r * ld;
    let s = x[row + j0] as number;
    for (let j = j0 + 1; j < cols; j++) s += (x[row + j] as number) * (v[vOff + j] as number);
    const f = tau * s;
    if (f === 0) continue;
    x[row + j0] = (x[row + j0] as number) - f;
    for (let j = j0 + 1; j < cols; j++) x[row + j] = (x[row + j] as number) - f * (v[vOff + j] as number);
  }
}

/**
 * Qᵀ restricted to its first n rows (n×m, row-major) from the left reflectors:
 * [Iₙ 0]·H_{n−1}···H₀. Rows r < k are untouched by H_k, which keeps this at
 * ~4/3·n²·(3m − n) flops.
 */
export function formLeftFactorT(a: Float64Array, m: number, n: number, tauLeft: Float64Array): Float64Array {
  const qt = new Float64Array(n * m);
  for (let r = 0; r < n; r++) qt[r * m + r] = 1;
  const u = new Float64Array(m);
  for (let k = n - 1; k >= 0; k--) {
    const tau = tauLeft[k] as number;
    if (tau === 0) continue;
    // Copy the strided reflector column once so the row loops are contiguous.
    for (let i = k + 1; i < m; i++) u[i] = a[i * n + k] as number;
    reflectRows(qt, m, k, n, k, m, tau, u, 0);
  }
  return qt;
}

/** Pᵀ (n×n, row-major) from the right reflectors: G_{n−3}···G₀. */
export function formRightFactorT(a: Float64Array, n: number, tauRight: Float64Array): Float64Array {
  const pt = new Float64Array(n * n);
  for (let r = 0; r < n; r++) pt[r * n + r] = 1;
  for (let k = n - 3; k >= 0; k--) {
    const tau = tauRight[k] as number;
    if (tau === 0) continue;
    reflectRows(pt, n, k + 1, n, k + 1, n, tau, a, k * n);
  }
  return pt;
}
