import type { ChangeRates } from './change-rates.js';
import { svdDims } from './change-rates.js';
import { NonFiniteError, ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';
import type { SvdResult } from './svd-types.js';

/** The s selected singular directions of W, as LoRA-Dash stores them. */
export interface DashBasis {
  /** Left singular vectors u_i as columns, [out, s] (reference: `dash_U`). */
  readonly U: Matrix<Float32Array>;
  /** Right singular vectors v_iᵀ as rows, [s, in] (reference: `dash_Vh`). */
  readonly Vt: Matrix<Float32Array>;
}

/**
 * Indices of the `s` task-specific directions: the s largest change rates,
 * in descending order of rate (Si et al., arXiv 2409.01035: TSDs are the
 * directions with the largest δᵢ; LoRA-Dash uses `torch.topk(change_rate, s)`). Ties
 * go to the lower index first, which matches torch.topk whenever the rates
 * are distinct. +Infinity (σᵢ = 0 with a non-zero projection) ranks first.
 * Throws {@link ShapeError} when s is not an integer in [0, k] and
 * {@link NonFiniteError} on a NaN rate.
 */
export function selectTaskSpecificDirections(rates: ChangeRates | Float64Array, s: number, name = 'change_rate'): Int32Array {
  const values = rates instanceof Float64Array ? rates : rates.rates;
  const k = values.length;
  if (!Number.isInteger(s) || s < 0 || s > k) {
    throw new ShapeError(`cannot select s = ${s} directions out of ${k}`, { tensor: name, shape: [k] });
  }
  for (let i = 0; i < k; i++) {
    if (Number.isNaN(values[i])) throw new NonFiniteError(`change rate ${i} is NaN`, { tensor: name, shape: [k] });
  }
  const order = Array.from({ length: k }, (_, i) => i);
  // Array.prototype.sort is stable (ES2019), so equal rates keep ascending index order.
  order.sort((a, b) => (values[b] as number) - (values[a] as number) || a - b);
  return Int32Array.from(order.slice(0, s));
}

/**
 * Gathers the chosen directions of an SVD into float32 `U_s` [out, s] and
 * `V_sᵀ` [s, in], in the order of `indices`. Throws {@link ShapeError} on an
 * index out of range or repeated (a repeated direction would make the dash
 * term's coordinates non-identifiable).
 */
export function dashBasis(svd: SvdResult, indices: Int32Array | readonly number[], name = 'dash'): DashBasis {
  const { out, inDim, k } = svdDims(svd, name);
  const s = indices.length;
  const seen = new Set<number>();
  for (let j = 0; j < s; j++) {
    const idx = indices[j] as number;
    if (!Number.isInteger(idx) || idx < 0 || idx >= k) {
      throw new ShapeError(`direction index ${idx} out of range [0, ${k})`, { tensor: `${name}.indices`, shape: [s] });
    }
    if (seen.has(idx)) {
      throw new ShapeError(`direction index ${idx} selected twice`, { tensor: `${name}.indices`, shape: [s] });
    }
    seen.add(idx);
  }
  const U = new Float32Array(out * s);
  const Ud = svd.U.data;
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < s; j++) U[o * s + j] = Ud[o * k + (indices[j] as number)] as number;
  }
  const Vt = new Float32Array(s * inDim);
  for (let j = 0; j < s; j++) {
    const row = (indices[j] as number) * inDim;
    Vt.set(svd.Vt.data.subarray(row, row + inDim), j * inDim);
  }
  return { U: { rows: out, cols: s, data: U }, Vt: { rows: s, cols: inDim, data: Vt } };
}
