import { NonFiniteError, ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import type { SvdResult } from './svd-types.js';

/**
 * Per-direction change rates of a weight W = U Σ Vᵀ under an update ΔW.
 * All three arrays have one entry per singular direction of the SVD given
 * (k = min(out, in) for a full thin SVD), in its order (σ descending).
 */
export interface ChangeRates {
  /** δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ (see {@link changeRates} for σᵢ = 0). */
  readonly rates: Float64Array;
  /** The signed projections uᵢᵀ ΔW vᵢ (PyTorch reference: `delta_sigma`). */
  readonly projections: Float64Array;
  /** The singular values σᵢ of W. */
  readonly sigma: Float64Array;
}

/**
 * Change rate of every singular direction of W under ΔW — the quantity that
 * defines task-specific directions (TSDs) in Si et al. (arXiv 2409.01035,
 * definition of TSDs via the change rate δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ): how much the update moves the
 * coordinate of W along its own i-th direction, relative to its size.
 *
 * `delta` is either LoRA factors — then uᵢᵀΔWvᵢ = scaling·(Bᵀuᵢ)·(A vᵢ) in
 * O(r·(out+in)·k), never forming ΔW — or a dense [out, in] matrix (e.g. an
 * accumulated gradient). Arithmetic is float64.
 *
 * A zero singular value (rank-deficient W) gets rate +Infinity when its
 * projection is non-zero (the update creates a direction W lacks entirely,
 * the most task-specific change possible) and 0 when the projection is zero
 * too; NaN never appears. Tiny but non-zero σᵢ are divided as-is, as the
 * PyTorch reference does.
 */
export function changeRates(svd: SvdResult, delta: LoraFactors | Matrix, name = 'delta'): ChangeRates {
  const { out, inDim, k } = svdDims(svd, name);
  const projections = isLoraFactors(delta) ? factoredProjections(svd, delta, out, inDim, k, name) : denseProjections(svd, delta, out, inDim, k, name);
  const sigma = Float64Array.from(svd.S);
  const rates = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const p = projections[i] as number;
    const s = Math.abs(sigma[i] as number);
    if (!Number.isFinite(p)) {
      throw new NonFiniteError(`projection uᵢᵀΔWvᵢ of direction ${i} is ${p}`, { tensor: name });
    }
    rates[i] = s === 0 ? (p === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.abs(p) / s;
  }
  return { rates, projections, sigma };
}

/** True when `delta` is a {@link LoraFactors} pair rather than a dense matrix. */
export function isLoraFactors(delta: LoraFactors | Matrix): delta is LoraFactors {
  return 'A' in delta && 'B' in delta && 'scaling' in delta;
}

/**
 * Checks that an SVD is internally consistent — U [out, k], S (k), Vt [k, in]
 * with k ≤ min(out, in) (k < min for a truncated/randomized SVD) — and
 * returns its dimensions. Throws {@link ShapeError} naming `name`.
 */
export function svdDims(svd: SvdResult, name: string): { out: number; inDim: number; k: number } {
  const out = svd.U.rows;
  const inDim = svd.Vt.cols;
  const k = svd.S.length;
  if (svd.U.cols !== k || svd.Vt.rows !== k || k > Math.min(out, inDim) || svd.U.data.length !== out * k || svd.Vt.data.length !== k * inDim) {
    throw new ShapeError(`inconsistent SVD: U [${svd.U.rows}, ${svd.U.cols}], S (${k}), Vt [${svd.Vt.rows}, ${svd.Vt.cols}]; expected k ≤ min(out, in)`, {
      tensor: `${name}.svd`,
      shape: [out, k, inDim],
    });
  }
  return { out, inDim, k };
}

function factoredProjections(svd: SvdResult, f: LoraFactors, out: number, inDim: number, k: number, name: string): Float64Array {
  const r = validateLoraFactors(f, { rows: out, cols: inDim }, name);
  const U = svd.U.data;
  const Vt = svd.Vt.data;
  const A = f.A.data;
  const B = f.B.data;
  // BtU[j, i] = (Bᵀuᵢ)_j and AV[j, i] = (A vᵢ)_j, both [r, k].
  const BtU = new Float64Array(r * k);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < r; j++) {
      const b = B[o * r + j] as number;
      if (b === 0) continue;
      const row = j * k;
      for (let i = 0; i < k; i++) BtU[row + i] = (BtU[row + i] as number) + b * (U[o * k + i] as number);
    }
  }
  const AV = new Float64Array(r * k);
  for (let j = 0; j < r; j++) {
    for (let i = 0; i < k; i++) {
      let sum = 0;
      const vrow = i * inDim;
      const arow = j * inDim;
      for (let c = 0; c < inDim; c++) sum += (A[arow + c] as number) * (Vt[vrow + c] as number);
      AV[j * k + i] = sum;
    }
  }
  const proj = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let sum = 0;
    for (let j = 0; j < r; j++) sum += (BtU[j * k + i] as number) * (AV[j * k + i] as number);
    proj[i] = f.scaling * sum;
  }
  return proj;
}

function denseProjections(svd: SvdResult, d: Matrix, out: number, inDim: number, k: number, name: string): Float64Array {
  if (d.rows !== out || d.cols !== inDim || d.data.length !== out * inDim) {
    throw new ShapeError(`ΔW is [${d.rows}, ${d.cols}] but the weight is [${out}, ${inDim}]`, {
      tensor: name,
      shape: [d.rows, d.cols],
    });
  }
  const U = svd.U.data;
  const Vt = svd.Vt.data;
  const D = d.data;
  // uᵢᵀ ΔW vᵢ = Σ_o U[o,i] · (ΔW vᵢ)_o; one pass over ΔW per direction.
  const proj = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const vrow = i * inDim;
    let sum = 0;
    for (let o = 0; o < out; o++) {
      const u = U[o * k + i] as number;
      if (u === 0) continue;
      const drow = o * inDim;
      let dv = 0;
      for (let c = 0; c < inDim; c++) dv += (D[drow + c] as number) * (Vt[vrow + c] as number);
      sum += u * dv;
    }
    proj[i] = sum;
  }
  return proj;
}
