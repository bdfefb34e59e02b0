import { NonFiniteError, ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors, type MatrixShape } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import type { DashBasis } from './tsd-selection.js';

/**
 * A launched LoRA-Dash term: the selected directions and their learned
 * coefficients d (reference tensors `dash_U`, `dash_Vh`, `dash_d`).
 */
export interface DashTerm extends DashBasis {
  /** One coefficient per direction, length s. */
  readonly d: Float32Array | Float64Array;
}

/**
 * Checks a dash term: U [out, s], Vt [s, in], d (s), all finite, and — when
 * a weight shape is given — out/in against it. Throws {@link ShapeError} or
 * {@link NonFiniteError} naming `name`. Returns s.
 */
export function validateDash(dash: DashTerm, W?: MatrixShape, name = 'dash'): number {
  const { U, Vt, d } = dash;
  const s = d.length;
  if (U.cols !== s || Vt.rows !== s || U.data.length !== U.rows * U.cols || Vt.data.length !== Vt.rows * Vt.cols) {
    throw new ShapeError(`dash_U is [${U.rows}, ${U.cols}], dash_Vh [${Vt.rows}, ${Vt.cols}], dash_d (${s}): the s dimensions differ`, {
      tensor: name,
      shape: [U.rows, U.cols, Vt.rows, Vt.cols, s],
    });
  }
  if (W !== undefined && (U.rows !== W.rows || Vt.cols !== W.cols)) {
    throw new ShapeError(`dash term is [${U.rows}, ${Vt.cols}] but the weight is [${W.rows}, ${W.cols}]`, {
      tensor: name,
      shape: [U.rows, Vt.cols],
    });
  }
  for (let j = 0; j < s; j++) {
    if (!Number.isFinite(d[j])) throw new NonFiniteError(`dash_d[${j}] is ${d[j]}`, { tensor: `${name}.dash_d`, shape: [s] });
  }
  return s;
}

/**
 * The LoRA-Dash update ΔW_dash = U_s diag(d) V_sᵀ, [out, in], in float64
 * (Si et al., arXiv 2409.01035, the "dash" phase of LoRA-Dash: the TSDs'
 * own coordinates are amplified by learned d). Unlike the LoRA branch it is NOT multiplied by alpha/r — the
 * official layer and the reference trajectory add it unscaled.
 */
export function dashDelta(basis: DashBasis, d: Float32Array | Float64Array, name = 'dash'): Matrix<Float64Array> {
  validateDash({ ...basis, d }, undefined, name);
  const out = basis.U.rows;
  const inDim = basis.Vt.cols;
  const res = new Float64Array(out * inDim);
  accumulateDash(res, { ...basis, d }, 1);
  return { rows: out, cols: inDim, data: res };
}

/**
 * acc += sign · U diag(d) Vt, for a row-major [out, in] float64 buffer and
 * an already validated dash term (shared by {@link dashDelta} and merging).
 */
export function accumulateDash(acc: Float64Array, dash: DashTerm, sign: number): void {
  const s = dash.d.length;
  const inDim = dash.Vt.cols;
  for (let o = 0; o < dash.U.rows; o++) {
    const row = o * inDim;
    for (let j = 0; j < s; j++) {
      const c = sign * (dash.U.data[o * s + j] as number) * (dash.d[j] as number);
      if (c === 0) continue;
      const vrow = j * inDim;
      for (let i = 0; i < inDim; i++) acc[row + i] = (acc[row + i] as number) + c * (dash.Vt.data[vrow + i] as number);
    }
  }
}

/**
 * Folds a dash term into the LoRA factors, giving one plain LoRA of rank
 * r + s with scaling 1 whose B'A' equals scaling·B·A + U_s diag(d) V_sᵀ:
 * B' = [scaling·B | U_s diag(d)] and A' = [A; V_sᵀ]. The products
 * scaling·B and U_s·d are rounded once to float32; nothing else changes.
 */
export function foldDashIntoLora(factors: LoraFactors, dash: DashTerm, name = 'lora'): LoraFactors {
  const r = validateLoraFactors(factors, undefined, name);
  const out = factors.B.rows;
  const inDim = factors.A.cols;
  const s = validateDash(dash, { rows: out, cols: inDim }, `${name}.dash`);
  const rank = r + s;
  const B = new Float32Array(out * rank);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < r; j++) B[o * rank + j] = factors.scaling * (factors.B.data[o * r + j] as number);
    for (let j = 0; j < s; j++) B[o * rank + r + j] = (dash.U.data[o * s + j] as number) * (dash.d[j] as number);
  }
  const A = new Float32Array(rank * inDim);
  A.set(factors.A.data, 0);
  A.set(dash.Vt.data, r * inDim);
  return { A: { rows: rank, cols: inDim, data: A }, B: { rows: out, cols: rank, data: B }, scaling: 1 };
}
