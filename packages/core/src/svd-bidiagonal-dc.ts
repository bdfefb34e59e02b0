import { bidiagonalQr, chaseColumnOfZeroDiagonal } from './svd-bidiagonal-qr.js';
import { gemmABt } from './svd-gemm.js';
import { solveArrow } from './svd-secular.js';

const EPS = Number.EPSILON / 2;
/** Subproblems up to this size go to bidiagonal QR. */
const LEAF = 24;
const TOP = 1;
const MID = 2;
const BOTTOM = 4;

/** Singular vectors as columns of row-major n×n arrays, values unsorted and non-negative. */
export interface BidiagonalSvd {
  s: Float64Array;
  u: Float64Array;
  v: Float64Array;
}

/**
 * SVD of the n×n upper bidiagonal B = diag(d) + superdiag(e) by divide and
 * conquer (Jessup & Sorensen 1994; Gu & Eisenstat 1995; LAPACK `dbdsdc`): B
 * splits at a middle row k into B₁ (k×(k+1)), that row, and B₂; the halves'
 * SVDs turn B into a broken arrow (see {@link solveArrow}) whose vectors are
 * folded back with two matrix products. Most of the O(n³) work is in those
 * products instead of O(n²) individual Givens rotations.
 */
export function bidiagonalSvdDc(d: Float64Array, e: Float64Array, name: string): BidiagonalSvd {
  const n = d.length;
  const ctx: Context = { d, e, n, name, s: new Float64Array(n), u: new Float64Array(n * n), v: new Float64Array(n * n) };
  solve(ctx, 0, n, 0);
  return { s: ctx.s, u: ctx.u, v: ctx.v };
}

interface Context {
  readonly d: Float64Array;
  readonly e: Float64Array;
  readonly n: number;
  readonly name: string;
  readonly s: Float64Array;
  /** Left vectors; the node on rows [r0, r0+len) owns the diagonal block there. */
  readonly u: Float64Array;
  /** Right vectors; the node owns the diagonal block [r0, r0+len+sq). */
  readonly v: Float64Array;
}

/** Rows [r0, r0+len) of B and columns [r0, r0+len+sq): square when sq = 0, one extra column when sq = 1. */
function solve(ctx: Context, r0: number, len: number, sq: number): void {
  if (len <= LEAF) {
    leaf(ctx, r0, len, sq);
    return;
  }
  const k = len >> 1;
  solve(ctx, r0, k, 1);
  solve(ctx, r0 + k + 1, len - k - 1, sq);
  merge(ctx, r0, len, sq, k);
}

function leaf(ctx: Context, r0: number, len: number, sq: number): void {
  const { n } = ctx;
  const nv = len + sq;
  const d = new Float64Array(nv);
  d.set(ctx.d.subarray(r0, r0 + len));
  const e = Float64Array.from(ctx.e.subarray(r0, r0 + len - 1 + sq));
  const ut = identity(len);
  const vt = identity(nv);
  // An extra column is rotated into the last one's place, leaving a square bidiagonal and a null vector.
  if (sq === 1) chaseColumnOfZeroDiagonal(d, e, 0, len, vt, nv, new Float64Array(3));
  bidiagonalQr(d.subarray(0, len), e.subarray(0, Math.max(len - 1, 0)), ut, len, vt, nv, ctx.name);
  for (let b = 0; b < len; b++) {
    ctx.s[r0 + b] = d[b] as number;
    for (let a = 0; a < len; a++) ctx.u[(r0 + a) * n + r0 + b] = ut[b * len + a] as number;
  }
  for (let b = 0; b < nv; b++) for (let a = 0; a < nv; a++) ctx.v[(r0 + a) * n + r0 + b] = vt[b * nv + a] as number;
}

function identity(n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

/** Rotates columns p, q of the row range [r0, r1): (cp, cq) ← (c·cp + s·cq, −s·cp + c·cq). */
function rotateColumns(a: Float64Array, n: number, r0: number, r1: number, p: number, q: number, c: number, s: number): void {
  for (let r = r0; r < r1; r++) {
    const x = a[r * n + p] as number;
    const y = a[r * n + q] as number;
    a[r * n + p] = c * x + s * y;
    a[r * n + q] = c * y - s * x;
  }
}

function merge(ctx: Context, r0: number, len: number, sq: number, k: number): void {
  const { n, u, v, s } = ctx;
  const mid = r0 + k;
  const dk = ctx.d[mid] as number;
  const ek = ctx.e[mid] as number;
  const vEnd = r0 + len + sq;
  // M-index i ↔ block column pos[i]: 0 ↔ the middle row / left null vector, 1..k ↔ B₁, k+1.. ↔ B₂.
  const z = new Float64Array(len);
  const dd = new Float64Array(len);
  const pos = new Int32Array(len);
  const uflag = new Uint8Array(len);
  const vflag = new Uint8Array(len);
  let z0 = dk * (v[mid * n + mid] as number);
  if (sq === 1) {
    // Combine B₁'s and B₂'s null vectors: one carries z₀, the other is B's null vector.
    const beta = ek * (v[(mid + 1) * n + r0 + len] as number);
    const r = Math.hypot(z0, beta);
    if (r > 0) rotateColumns(v, n, r0, vEnd, mid, r0 + len, z0 / r, beta / r);
    z0 = r;
  }
  z[0] = z0;
  pos[0] = k;
  uflag[0] = MID;
  vflag[0] = sq === 1 ? TOP | BOTTOM : TOP;
  for (let i = 1; i <= k; i++) {
    pos[i] = i - 1;
    z[i] = dk * (v[mid * n + r0 + i - 1] as number);
    dd[i] = s[r0 + i - 1] as number;
    uflag[i] = TOP;
    vflag[i] = TOP;
  }
  for (let i = k + 1; i < len; i++) {
    pos[i] = i;
    z[i] = ek * (v[(mid + 1) * n + r0 + i] as number);
    dd[i] = s[r0 + i] as number;
    uflag[i] = BOTTOM;
    vflag[i] = BOTTOM;
  }
  u[mid * n + mid] = 1;

  let scale = 0;
  for (let i = 0; i < len; i++) scale = Math.max(scale, Math.abs(z[i] as number), dd[i] as number);
  if (scale === 0) {
    for (let i = 0; i < len; i++) s[r0 + (pos[i] as number)] = 0;
    return;
  }
  for (let i = 0; i < len; i++) {
    z[i] = (z[i] as number) / scale;
    dd[i] = (dd[i] as number) / scale;
  }

  // Deflation (Gu & Eisenstat §4; LAPACK dlasd2), perturbing M by at most tol.
  const tol = 64 * EPS;
  if (Math.abs(z[0] as number) <= tol) z[0] = tol;
  const order = Array.from({ length: len - 1 }, (_, i) => i + 1).sort((a, b) => (dd[a] as number) - (dd[b] as number));
  const keep: number[] = [0];
  const deflated: number[] = [];
  for (const j of order) {
    const zj = z[j] as number;
    if (Math.abs(zj) <= tol) {
      deflated.push(j);
    } else if ((dd[j] as number) <= tol) {
      // dⱼ ≈ 0 = d₀: a right rotation moves zⱼ into z₀; the dropped s·dⱼ is below tol.
      const zf = z[0] as number;
      const r = Math.hypot(zf, zj);
      const c = zf / r;
      rotateColumns(v, n, r0, vEnd, r0 + (pos[0] as number), r0 + (pos[j] as number), c, zj / r);
      vflag[0] = (vflag[0] as number) | (vflag[j] as number);
      vflag[j] = vflag[0] as number;
      z[0] = r;
      z[j] = 0;
      dd[j] = Math.abs(c) * (dd[j] as number);
      if (c < 0) for (let t = r0; t < vEnd; t++) v[t * n + r0 + (pos[j] as number)] = -(v[t * n + r0 + (pos[j] as number)] as number);
      deflated.push(j);
    } else if (keep.length > 1 && (dd[j] as number) - (dd[keep[keep.length - 1] as number] as number) <= tol) {
      // dₚ ≈ dⱼ: a rotation on both sides moves zₚ into zⱼ; diag(d) changes by below tol.
      const p = keep.pop() as number;
      const zp = z[p] as number;
      const r = Math.hypot(zp, zj);
      const c = zj / r;
      const sn = zp / r;
      // (colₚ, colⱼ) ← (c·colₚ − s·colⱼ, s·colₚ + c·colⱼ)
      rotateColumns(u, n, r0, r0 + len, r0 + (pos[p] as number), r0 + (pos[j] as number), c, -sn);
      rotateColumns(v, n, r0, vEnd, r0 + (pos[p] as number), r0 + (pos[j] as number), c, -sn);
      uflag[p] = (uflag[p] as number) | (uflag[j] as number);
      uflag[j] = uflag[p] as number;
      vflag[p] = (vflag[p] as number) | (vflag[j] as number);
      vflag[j] = vflag[p] as number;
      z[p] = 0;
      z[j] = r;
      deflated.push(p);
      keep.push(j);
    } else {
      keep.push(j);
    }
  }

  const K = keep.length;
  const dK = new Float64Array(K);
  const zK = new Float64Array(K);
  for (let t = 0; t < K; t++) {
    dK[t] = dd[keep[t] as number] as number;
    zK[t] = z[keep[t] as number] as number;
  }
  const arrow = solveArrow(dK, zK);
  const cols = keep.map((i) => r0 + (pos[i] as number));
  applyBlock(
    u,
    n,
    r0,
    mid,
    cols,
    keep.map((i) => (uflag[i] as number) & TOP),
    arrow.x,
    K,
  );
  applyBlock(
    u,
    n,
    mid,
    mid + 1,
    cols,
    keep.map((i) => (uflag[i] as number) & MID),
    arrow.x,
    K,
  );
  applyBlock(
    u,
    n,
    mid + 1,
    r0 + len,
    cols,
    keep.map((i) => (uflag[i] as number) & BOTTOM),
    arrow.x,
    K,
  );
  applyBlock(
    v,
    n,
    r0,
    mid + 1,
    cols,
    keep.map((i) => (vflag[i] as number) & TOP),
    arrow.y,
    K,
  );
  applyBlock(
    v,
    n,
    mid + 1,
    vEnd,
    cols,
    keep.map((i) => (vflag[i] as number) & BOTTOM),
    arrow.y,
    K,
  );
  for (let t = 0; t < K; t++) s[cols[t] as number] = (arrow.sigma[t] as number) * scale;
  for (const j of deflated) s[r0 + (pos[j] as number)] = (dd[j] as number) * scale;
}

/**
 * a[rows r0..r1, cols] ← a[rows, cols]·W for the K×K matrix W (row-major), using
 * only the columns whose flag says they are non-zero on these rows.
 */
function applyBlock(a: Float64Array, n: number, r0: number, r1: number, cols: number[], live: number[], w: Float64Array, K: number): void {
  const rows = r1 - r0;
  if (rows <= 0) return;
  const idx: number[] = [];
  for (let t = 0; t < K; t++) if (live[t] !== 0) idx.push(t);
  const L = idx.length;
  // Gather a[rows, live cols] (rows×L) and Wᵀ restricted to the live rows of W (K×L).
  const g = new Float64Array(rows * L);
  for (let r = 0; r < rows; r++) {
    const src = (r0 + r) * n;
    for (let q = 0; q < L; q++) g[r * L + q] = a[src + (cols[idx[q] as number] as number)] as number;
  }
  const wt = new Float64Array(K * L);
  for (let q = 0; q < L; q++) {
    const src = (idx[q] as number) * K;
    for (let t = 0; t < K; t++) wt[t * L + q] = w[src + t] as number;
  }
  const out = new Float64Array(rows * K);
  if (L > 0) gemmABt(rows, K, L, g, 0, L, wt, 0, L, out, 0, K);
  for (let r = 0; r < rows; r++) {
    const dst = (r0 + r) * n;
    for (let t = 0; t < K; t++) a[dst + (cols[t] as number)] = out[r * K + t] as number;
  }
}
