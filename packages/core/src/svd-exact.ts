import type { Matrix } from './matrix.js';
import { bidiagonalize, formLeftFactorT, formRightFactorT } from './svd-bidiagonalize.js';
import { bidiagonalSvdDc } from './svd-bidiagonal-dc.js';
import { bidiagonalQr } from './svd-bidiagonal-qr.js';
import { transposeBlock } from './svd-gemm.js';
import { applyReflectorsToRows, leftReflectors, rightReflectors } from './svd-householder-blocked.js';
import { finishSvd, validateSvdInput } from './svd-finish.js';
import { lowerFactor, lqFactor, lqReflectors } from './svd-lq.js';
import type { SvdResult } from './svd-types.js';

/** Options of {@link svd}. */
export interface SvdOptions {
  /** Tensor name used in error messages (e.g. the HF module path). */
  name?: string;
}

/**
 * Exact thin SVD A = U·diag(S)·Vt in Float64 of any m×n matrix (Float32 or
 * Float64 storage), k = min(m, n), along LAPACK `dgesdd`'s lines: LQ first when
 * the matrix is far from square, blocked Householder bidiagonalisation,
 * divide-and-conquer bidiagonal SVD (bidiagonal QR below 33 columns), and the
 * reflectors applied back in compact WY form; the heavy loops run in WebAssembly
 * SIMD where available (svd-wasm-kernels.ts). Singular values are accurate to a
 * few eps·‖A‖₂ in absolute terms, which is what the change rates of Si et al.
 * (eq. 3 divides by σ) need from the smallest ones. Sign convention: see
 * {@link SvdResult}. The input is not modified.
 *
 * Throws ShapeError for an empty or inconsistent matrix and NonFiniteError for
 * NaN/±Inf, both naming `options.name`.
 */
export function svd(a: Matrix, options: SvdOptions = {}): SvdResult {
  const name = options.name ?? 'matrix';
  validateSvdInput(a, name);
  const { rows: m, cols: n } = a;
  const wide = m < n;
  const k = wide ? m : n;
  const long = wide ? n : m;
  const src = a.data;
  // W: the short-and-wide orientation (k×long), i.e. A itself or Aᵀ.
  const w = new Float64Array(k * long);
  if (wide) for (let i = 0; i < src.length; i++) w[i] = src[i] as number;
  else for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) w[j * m + i] = src[i * n + j] as number;
  let s: Float64Array;
  let leftT: Float64Array; // rows: left vectors of W (length k)
  let rightT: Float64Array; // rows: right vectors of W (length long)
  if (long >= LQ_RATIO * k && k > SMALL) {
    // Far from square: W = L·Q₁ by LQ, SVD of the k×k L, then V = Q₁ᵀ·V_L.
    const tau = lqFactor(w, k, long);
    const core = tallSvd(lowerFactor(w, k, long), k, k, name);
    s = core.s;
    leftT = core.leftT;
    // W's right vectors: rows of [V_Lᵀ 0]·H_{k−1}···H₀.
    rightT = new Float64Array(k * long);
    for (let i = 0; i < k; i++) rightT.set(core.rightT.subarray(i * k, i * k + k), i * long);
    applyReflectorsToRows(rightT, k, lqReflectors(w, k, long, tau));
  } else {
    // Wᵀ (long×k) is tall: its left vectors are W's right ones.
    const core = tallSvd(transposeBlock(w, 0, long, k, long), long, k, name);
    s = core.s;
    leftT = core.rightT;
    rightT = core.leftT;
  }
  // W = A for a wide A; W = Aᵀ for a tall one, whose U and V swap.
  return wide ? finishSvd(s, leftT, k, rightT, long) : finishSvd(s, rightT, long, leftT, k);
}

/**
 * SVD of a tall rows×cols matrix held in `work` (overwritten): transposed
 * factors leftT (cols×rows, rows are uᵢ) and rightT (cols×cols, rows are vᵢ).
 */
function tallSvd(work: Float64Array, rows: number, cols: number, name: string): { s: Float64Array; leftT: Float64Array; rightT: Float64Array } {
  const { d, e, tauLeft, tauRight } = bidiagonalize(work, rows, cols);
  if (cols <= SMALL) {
    // Small problems: rotate explicitly formed Householder factors directly.
    const leftT = formLeftFactorT(work, rows, cols, tauLeft);
    const rightT = formRightFactorT(work, cols, tauRight);
    bidiagonalQr(d, e, leftT, rows, rightT, cols, name);
    return { s: d, leftT, rightT };
  }
  // B = U_B·S·V_Bᵀ; then U = Q·U_B and V = P·V_B, applying the reflectors blockwise.
  const b = bidiagonalSvdDc(d, e, name);
  const leftT = new Float64Array(cols * rows);
  for (let i = 0; i < cols; i++) for (let t = 0; t < cols; t++) leftT[i * rows + t] = b.u[t * cols + i] as number;
  applyReflectorsToRows(leftT, cols, leftReflectors(work, rows, cols, tauLeft));
  const rightT = transposeBlock(b.v, 0, cols, cols, cols);
  applyReflectorsToRows(rightT, cols, rightReflectors(work, cols, tauRight));
  return { s: b.s, leftT, rightT };
}

/** From this aspect ratio on, LQ first (≈ LAPACK's gesdd crossover; measured here too). */
const LQ_RATIO = 1.6;

/** Below this many columns (of the tall orientation) bidiagonal QR beats divide and conquer. */
const SMALL = 32;
