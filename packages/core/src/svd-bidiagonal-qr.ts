import { TsdError } from './errors.js';

/** Unit roundoff of IEEE double. */
const EPS = Number.EPSILON / 2;

/**
 * The rotation [c s; −s c] with c·f + s·g = r and −s·f + c·g = 0 (LAPACK `dlartg`
 * up to signs), returned through `out` to avoid allocation in hot loops.
 */
export function givens(f: number, g: number, out: Float64Array): void {
  if (g === 0) {
    out[0] = 1;
    out[1] = 0;
    out[2] = f;
  } else if (f === 0) {
    out[0] = 0;
    out[1] = 1;
    out[2] = g;
  } else {
    const r = Math.hypot(f, g);
    out[0] = f / r;
    out[1] = g / r;
    out[2] = r;
  }
}

/** Rows i, j of a row-major matrix with `cols` columns: (xᵢ, xⱼ) ← (c·xᵢ + s·xⱼ, −s·xᵢ + c·xⱼ). */
export function rotateRows(a: Float64Array, cols: number, i: number, j: number, c: number, s: number): void {
  const pi = i * cols;
  const pj = j * cols;
  for (let t = 0; t < cols; t++) {
    const x = a[pi + t] as number;
    const y = a[pj + t] as number;
    a[pi + t] = c * x + s * y;
    a[pj + t] = c * y - s * x;
  }
}

/**
 * Smaller singular value of the upper-triangular 2×2 [f g; 0 h], without
 * cancellation: σ_max = (√((|f|+|h|)² + g²) + √((|f|−|h|)² + g²)) / 2 and
 * σ_min = |f·h| / σ_max (their product is |det|).
 */
export function smallerSingularValue2x2(f: number, g: number, h: number): number {
  const fa = Math.abs(f);
  const ha = Math.abs(h);
  const scale = Math.max(fa, Math.abs(g), ha);
  if (scale === 0) return 0;
  const fs = fa / scale;
  const gs = g / scale;
  const hs = ha / scale;
  const big = (Math.sqrt((fs + hs) * (fs + hs) + gs * gs) + Math.sqrt((fs - hs) * (fs - hs) + gs * gs)) / 2;
  return big === 0 ? 0 : ((fs * hs) / big) * scale;
}

/**
 * Diagonalises the upper bidiagonal B = diag(d) + superdiag(e) by implicit-shift
 * QR (Golub & Kahan 1965; Demmel & Kahan 1990, shift from the trailing 2×2 and
 * a zero shift when it is negligible), in place: on return d holds the
 * singular values (non-negative, unsorted) and e is zero.
 *
 * Every right rotation B ← B·G is applied to the rows of `vt` (so Vt ← Gᵀ·Vt),
 * every left rotation B ← Gᵀ·B to the rows of `ut` — rows are contiguous in
 * row-major storage, which is why the factors are carried transposed.
 * Entries below eps·(|dᵢ| + |dᵢ₊₁|) and diagonals below eps·‖B‖ are set to 0,
 * so singular values are accurate to a few eps·‖B‖ in absolute terms.
 */
export function bidiagonalQr(d: Float64Array, e: Float64Array, ut: Float64Array, utCols: number, vt: Float64Array, vtCols: number, name = 'matrix'): void {
  const n = d.length;
  let anorm = 0;
  for (let i = 0; i < n; i++) anorm = Math.max(anorm, Math.abs(d[i] as number));
  for (let i = 0; i < n - 1; i++) anorm = Math.max(anorm, Math.abs(e[i] as number));
  const zeroTol = EPS * anorm;
  const rot = new Float64Array(3);
  const negligible = (i: number): boolean => {
    const ei = Math.abs(e[i] as number);
    return ei <= EPS * (Math.abs(d[i] as number) + Math.abs(d[i + 1] as number)) || ei < Number.MIN_VALUE * 1e10;
  };
  const maxSweeps = 40 * n + 100;
  let sweeps = 0;
  let hi = n - 1;
  outer: while (hi > 0) {
    if (negligible(hi - 1)) {
      e[hi - 1] = 0;
      hi--;
      continue;
    }
    let lo = hi - 1;
    while (lo > 0 && !negligible(lo - 1)) lo--;
    if (lo > 0) e[lo - 1] = 0;
    for (let i = lo; i <= hi; i++) {
      if (Math.abs(d[i] as number) <= zeroTol) {
        d[i] = 0;
        if (i < hi) chaseRowOfZeroDiagonal(d, e, i, hi, ut, utCols, rot);
        else chaseColumnOfZeroDiagonal(d, e, lo, hi, vt, vtCols, rot);
        continue outer;
      }
    }
    if (++sweeps > maxSweeps) {
      throw new TsdError(`bidiagonal QR did not converge after ${maxSweeps} sweeps`, { tensor: name, shape: [n] });
    }
    qrSweep(d, e, lo, hi, ut, utCols, vt, vtCols, rot);
  }
  for (let i = 0; i < n; i++) {
    if ((d[i] as number) < 0) {
      d[i] = -(d[i] as number);
      const row = i * vtCols;
      for (let t = 0; t < vtCols; t++) vt[row + t] = -(vt[row + t] as number);
    }
  }
}

/** One implicit-shift QR step on the unreduced block [lo, hi], chasing the bulge downwards. */
function qrSweep(d: Float64Array, e: Float64Array, lo: number, hi: number, ut: Float64Array, utCols: number, vt: Float64Array, vtCols: number, rot: Float64Array): void {
  let shift = smallerSingularValue2x2(d[hi - 1] as number, e[hi - 1] as number, d[hi] as number);
  const dlo = d[lo] as number;
  // A shift that is tiny next to the block's leading entry only costs accuracy: use 0.
  if ((shift / dlo) * (shift / dlo) < EPS) shift = 0;
  // First column of BᵀB − μ²I, scaled by 1/d_lo: ((d² − μ²)/d, e).
  let f = shift === 0 ? dlo : (Math.abs(dlo) - shift) * (Math.sign(dlo) + shift / dlo);
  let g = e[lo] as number;
  for (let i = lo; i < hi; i++) {
    givens(f, g, rot);
    let c = rot[0] as number;
    let s = rot[1] as number;
    if (i > lo) e[i - 1] = rot[2] as number;
    const di = d[i] as number;
    const ei = e[i] as number;
    const dn = d[i + 1] as number;
    f = c * di + s * ei;
    e[i] = c * ei - s * di;
    g = s * dn;
    d[i + 1] = c * dn;
    rotateRows(vt, vtCols, i, i + 1, c, s);
    givens(f, g, rot);
    c = rot[0] as number;
    s = rot[1] as number;
    d[i] = rot[2] as number;
    const ei2 = e[i] as number;
    const dn2 = d[i + 1] as number;
    f = c * ei2 + s * dn2;
    d[i + 1] = c * dn2 - s * ei2;
    if (i + 1 < hi) {
      const en = e[i + 1] as number;
      g = s * en;
      e[i + 1] = c * en;
    }
    rotateRows(ut, utCols, i, i + 1, c, s);
  }
  e[hi - 1] = f;
}

/** dᵢ = 0 with i < hi: left rotations with rows i+1..hi push eᵢ off the block. */
function chaseRowOfZeroDiagonal(d: Float64Array, e: Float64Array, i: number, hi: number, ut: Float64Array, utCols: number, rot: Float64Array): void {
  let f = e[i] as number;
  e[i] = 0;
  for (let j = i + 1; j <= hi && f !== 0; j++) {
    givens(d[j] as number, f, rot);
    const c = rot[0] as number;
    const s = rot[1] as number;
    d[j] = rot[2] as number;
    if (j < hi) {
      const ej = e[j] as number;
      f = -s * ej;
      e[j] = c * ej;
    }
    rotateRows(ut, utCols, j, i, c, s);
  }
}

/**
 * d_hi = 0: right rotations with columns hi−1..lo push e_{hi−1} off the block
 * (also turns an n×(n+1) bidiagonal into a square one plus a zero column).
 */
export function chaseColumnOfZeroDiagonal(d: Float64Array, e: Float64Array, lo: number, hi: number, vt: Float64Array, vtCols: number, rot: Float64Array): void {
  let f = e[hi - 1] as number;
  e[hi - 1] = 0;
  for (let j = hi - 1; j >= lo && f !== 0; j--) {
    givens(d[j] as number, f, rot);
    const c = rot[0] as number;
    const s = rot[1] as number;
    d[j] = rot[2] as number;
    if (j > lo) {
      const ej = e[j - 1] as number;
      f = -s * ej;
      e[j - 1] = c * ej;
    }
    rotateRows(vt, vtCols, j, hi, c, s);
  }
}
