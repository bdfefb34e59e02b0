import type { LoraFactors } from './lora-factors.js';
import { accumulateLora } from './merge.js';
import type { Matrix } from './matrix.js';
import type { SvdResult } from './svd-types.js';

/** LoRA factors built from singular directions of W, and the residual weight they leave. */
export interface SvdInitResult {
  readonly factors: LoraFactors;
  /** W' = W − scaling·B·A, float32, computed from the float32 factors. */
  readonly residual: Matrix<Float32Array>;
}

/**
 * PiSSA-style factors from the chosen singular directions (Meng et al. 2024;
 * PEFT `LoraLayer.pissa_init`): with σ̃ⱼ = σⱼ / scaling,
 * B[:, j] = u_{idx_j} √σ̃ⱼ and A[j, :] = √σ̃ⱼ v_{idx_j}ᵀ, so scaling·B·A =
 * Σⱼ σⱼ uⱼ vⱼᵀ exactly (in real arithmetic). PEFT divides S by scaling before
 * the square root in the same way, so its A and B equal ours for every alpha.
 * The residual W' = W − scaling·B·A is formed in float64 from the *rounded*
 * float32 factors and rounded once, so W' + scaling·B·A reproduces W up to
 * one float32 rounding of W' — not up to the error of the SVD.
 *
 * Used with the top-r indices for PiSSA, the bottom-r for MiLoRA and the
 * top-r change-rate indices for LoRA-Init. The caller validates `indices`
 * (in range, distinct) and the SVD against W.
 */
export function svdDirectionFactors(W: Matrix, svd: SvdResult, indices: Int32Array, scaling: number): SvdInitResult {
  const out = W.rows;
  const inDim = W.cols;
  const k = svd.S.length;
  const r = indices.length;
  const B = new Float32Array(out * r);
  const A = new Float32Array(r * inDim);
  for (let j = 0; j < r; j++) {
    const idx = indices[j] as number;
    const root = Math.sqrt((svd.S[idx] as number) / scaling);
    for (let o = 0; o < out; o++) B[o * r + j] = (svd.U.data[o * k + idx] as number) * root;
    const vrow = idx * inDim;
    for (let c = 0; c < inDim; c++) A[j * inDim + c] = root * (svd.Vt.data[vrow + c] as number);
  }
  const factors: LoraFactors = {
    A: { rows: r, cols: inDim, data: A },
    B: { rows: out, cols: r, data: B },
    scaling,
  };
  const acc = Float64Array.from(W.data);
  accumulateLora(acc, factors, -1);
  return { factors, residual: { rows: out, cols: inDim, data: Float32Array.from(acc) } };
}
