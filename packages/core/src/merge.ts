import { accumulateDash, validateDash, type DashTerm } from './dash.js';
import { NonFiniteError, ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';

/**
 * The dense LoRA update ΔW = scaling · B · A, [out, in], in float64 (PEFT's
 * `get_delta_weight`).
 */
export function loraDelta(factors: LoraFactors, name = 'lora'): Matrix<Float64Array> {
  validateLoraFactors(factors, undefined, name);
  const out = factors.B.rows;
  const inDim = factors.A.cols;
  const acc = new Float64Array(out * inDim);
  accumulateLora(acc, factors, 1);
  return { rows: out, cols: inDim, data: acc };
}

/**
 * W + scaling·B·A (+ U_s diag(d) V_sᵀ when a dash term is given) as a new
 * float32 matrix, like PEFT's `merge()`. Every sum is accumulated in float64
 * and rounded once. Shapes are checked against W ({@link ShapeError}); a
 * non-finite result throws {@link NonFiniteError} naming the module.
 */
export function mergeLora(W: Matrix, factors: LoraFactors, dash?: DashTerm, name = 'lora'): Matrix<Float32Array> {
  return applyDelta(W, factors, dash, 1, name);
}

/**
 * The inverse of {@link mergeLora}: W − scaling·B·A (− the dash term), as a
 * new float32 matrix (PEFT's `unmerge()`). Merging then unmerging returns W
 * up to one float32 rounding per step.
 */
export function unmergeLora(W: Matrix, factors: LoraFactors, dash?: DashTerm, name = 'lora'): Matrix<Float32Array> {
  return applyDelta(W, factors, dash, -1, name);
}

function applyDelta(W: Matrix, factors: LoraFactors, dash: DashTerm | undefined, sign: 1 | -1, name: string): Matrix<Float32Array> {
  if (W.data.length !== W.rows * W.cols) {
    throw new ShapeError(`weight buffer holds ${W.data.length} elements`, { tensor: `${name}.weight`, shape: [W.rows, W.cols] });
  }
  validateLoraFactors(factors, W, name);
  const acc = Float64Array.from(W.data);
  accumulateLora(acc, factors, sign);
  if (dash !== undefined) {
    validateDash(dash, W, `${name}.dash`);
    accumulateDash(acc, dash, sign);
  }
  return roundChecked(acc, W, name);
}

/**
 * DoRA's merged weight (Liu et al. 2024, eq. (5); PEFT's DoRA `merge`):
 * V = W + scaling·B·A, then each row o of V rescaled to norm m_o, so
 * W' = (m / ‖V‖_row) ⊙ V. Accumulated in float64, rounded once. A magnitude
 * of the wrong length throws {@link ShapeError}, a zero row {@link NonFiniteError}.
 */
export function mergeDora(W: Matrix, factors: LoraFactors, magnitude: ArrayLike<number>, name = 'lora'): Matrix<Float32Array> {
  if (W.data.length !== W.rows * W.cols) {
    throw new ShapeError(`weight buffer holds ${W.data.length} elements`, { tensor: `${name}.weight`, shape: [W.rows, W.cols] });
  }
  validateLoraFactors(factors, W, name);
  const acc = Float64Array.from(W.data);
  accumulateLora(acc, factors, 1);
  rescaleRows(acc, W.rows, W.cols, magnitude, name);
  return roundChecked(acc, W, name);
}

/**
 * Rescales each row o of a row-major [rows, cols] float64 buffer to norm
 * magnitude[o] (DoRA's m / ‖W + ΔW‖, the norm over dim 1 as PEFT's
 * `get_weight_norm`). Shared by {@link mergeDora} and ONNX merges.
 */
export function rescaleRows(acc: Float64Array, rows: number, cols: number, magnitude: ArrayLike<number>, name = 'lora'): void {
  if (magnitude.length !== rows) {
    throw new ShapeError(`DoRA magnitude holds ${magnitude.length} values for ${rows} output rows`, {
      tensor: `${name}.lora_magnitude_vector`,
      shape: [magnitude.length],
    });
  }
  for (let o = 0; o < rows; o++) {
    let sq = 0;
    for (let i = o * cols; i < (o + 1) * cols; i++) sq += (acc[i] as number) * (acc[i] as number);
    const f = (magnitude[o] as number) / Math.sqrt(sq);
    if (!Number.isFinite(f)) {
      throw new NonFiniteError(`DoRA scale of row ${o} is ${f} (row norm ${Math.sqrt(sq)})`, { tensor: `${name}.lora_magnitude_vector` });
    }
    for (let i = o * cols; i < (o + 1) * cols; i++) acc[i] = (acc[i] as number) * f;
  }
}

/** acc rounded to float32, refusing non-finite values (naming the row and column). */
function roundChecked(acc: Float64Array, W: Matrix, name: string): Matrix<Float32Array> {
  const out = Float32Array.from(acc);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) {
      const row = Math.floor(i / W.cols);
      throw new NonFiniteError(`merged weight is ${out[i]} at row ${row}, column ${i - row * W.cols}`, {
        tensor: `${name}.weight`,
        shape: [W.rows, W.cols],
      });
    }
  }
  return { rows: W.rows, cols: W.cols, data: out };
}

/**
 * acc += sign · scaling · B · A for a row-major [out, in] float64 buffer and
 * validated factors; row by row of B so the inner loop streams rows of A.
 */
export function accumulateLora(acc: Float64Array, f: LoraFactors, sign: number): void {
  const r = f.A.rows;
  const inDim = f.A.cols;
  const c = sign * f.scaling;
  for (let o = 0; o < f.B.rows; o++) {
    const row = o * inDim;
    for (let j = 0; j < r; j++) {
      const b = c * (f.B.data[o * r + j] as number);
      if (b === 0) continue;
      const arow = j * inDim;
      for (let i = 0; i < inDim; i++) acc[row + i] = (acc[row + i] as number) + b * (f.A.data[arow + i] as number);
    }
  }
}
