import type { Matrix } from './matrix.js';
import { bidiagonalize, formLeftFactorT, formRightFactorT } from './svd-bidiagonalize.js';
import { bidiagonalSvdDc } from './svd-bidiagonal-dc.js';
import { bidiagonalQr } from './svd-bidiagonal-qr.js';
import { transposeBlock } from './svd-gemm.js';
import { applyReflectorsToRows, leftReflectors, rightReflectors } from './svd-householder-blocked.js';
import { finishSvd, validateSvdInput } from './svd-finish.js';
import type { SvdResult } from './svd-types.js';

/** Options of {@link svd}. */
export interface SvdOptions {
  /** Tensor name used in error messages (e.g. the HF module path). */
  name?: string;
}

/**
 * Exact thin SVD A = U·diag(S)·Vt in Float64 of any m×n matrix (Float32 or
 * Float64 storage), k = min(m, n): Householder bidiagonalisation followed by
 * implicit-shift bidiagonal QR (Golub–Kahan–Reinsch). Singular values are
 * accurate to a few eps·‖A‖₂ in absolute terms, which is what the change rates
 * of Si et al. (eq. 3 divides by σ) need from the smallest ones. Wide inputs are
 * solved through their transpose. Sign convention: see {@link SvdResult}.
 *
 * Throws ShapeError for an empty or inconsistent matrix and NonFiniteError for
 * NaN/±Inf, both naming `options.name`.
 */
export function svd(a: Matrix, options: SvdOptions = {}): SvdResult {
  const name = options.name ?? 'matrix';
  validateSvdInput(a, name);
  const { rows: m, cols: n } = a;
  const wide = m < n;
  // Work on the tall orientation: rows ≥ columns.
  const rows = wide ? n : m;
  const cols = wide ? m : n;
  const work = new Float64Array(rows * cols);
  const src = a.data;
  if (wide) {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) work[j * m + i] = src[i * n + j] as number;
  } else {
    for (let i = 0; i < src.length; i++) work[i] = src[i] as number;
  }
  const { d, e, tauLeft, tauRight } = bidiagonalize(work, rows, cols);
  let s = d;
  let leftT: Float64Array;
  let rightT: Float64Array;
  if (cols <= SMALL) {
    // Small problems: rotate explicitly formed Householder factors directly.
    leftT = formLeftFactorT(work, rows, cols, tauLeft);
    rightT = formRightFactorT(work, cols, tauRight);
    bidiagonalQr(d, e, leftT, rows, rightT, cols, name);
  } else {
    // B = U_B·S·V_Bᵀ; then U = Q·U_B and V = P·V_B, applying the reflectors blockwise.
    const b = bidiagonalSvdDc(d, e, name);
    s = b.s;
    leftT = new Float64Array(cols * rows);
    for (let i = 0; i < cols; i++) for (let t = 0; t < cols; t++) leftT[i * rows + t] = b.u[t * cols + i] as number;
    applyReflectorsToRows(leftT, cols, leftReflectors(work, rows, cols, tauLeft));
    rightT = transposeBlock(b.v, 0, cols, cols, cols);
    applyReflectorsToRows(rightT, cols, rightReflectors(work, cols, tauRight));
  }
  // For a wide A we decomposed Aᵀ = U'·S·V'ᵀ, so A = V'·S·U'ᵀ.
  return wide ? finishSvd(s, rightT, cols, leftT, rows) : finishSvd(s, leftT, rows, rightT, cols);
}

/** Below this many columns (of the tall orientation) bidiagonal QR beats divide and conquer. */
const SMALL = 32;
