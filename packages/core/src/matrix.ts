import { NonFiniteError, ShapeError } from './errors.js';

/** Element storage of a {@link Matrix}. Float64 for analysis, Float32 for model weights. */
export type MatrixData = Float32Array | Float64Array;

/**
 * A dense row-major matrix over a plain typed array. Weights use the
 * Hugging Face layout `[out, in]`, so `y = x · Wᵀ`.
 */
export interface Matrix<D extends MatrixData = MatrixData> {
  readonly rows: number;
  readonly cols: number;
  readonly data: D;
}

/** Wraps `data` as a `rows × cols` matrix, checking the length. */
export function matrix<D extends MatrixData>(rows: number, cols: number, data: D, name = 'matrix'): Matrix<D> {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new ShapeError(`invalid matrix dimensions ${rows}×${cols}`, { tensor: name, shape: [rows, cols] });
  }
  if (data.length !== rows * cols) {
    throw new ShapeError(`expected ${rows * cols} elements for a ${rows}×${cols} matrix, got ${data.length}`, {
      tensor: name,
      shape: [rows, cols],
    });
  }
  return { rows, cols, data };
}

/** A new zero-filled Float64 matrix. */
export function zeros(rows: number, cols: number): Matrix<Float64Array> {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/** Copies any matrix into Float64 storage. */
export function toFloat64(m: Matrix): Matrix<Float64Array> {
  return { rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) };
}

/** Copies any matrix into Float32 storage (rounding to nearest). */
export function toFloat32(m: Matrix): Matrix<Float32Array> {
  return { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) };
}

/** Throws {@link NonFiniteError} naming `name` if any element is NaN or ±Infinity. */
export function assertFinite(m: Matrix, name: string): void {
  const { data } = m;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (!Number.isFinite(v)) {
      const row = Math.floor(i / m.cols);
      throw new NonFiniteError(`${v} at row ${row}, column ${i - row * m.cols}`, {
        tensor: name,
        shape: [m.rows, m.cols],
      });
    }
  }
}

/** Throws {@link ShapeError} unless `m` is `rows × cols`. */
export function assertShape(m: Matrix, rows: number, cols: number, name: string): void {
  if (m.rows !== rows || m.cols !== cols) {
    throw new ShapeError(`expected shape [${rows}, ${cols}], got [${m.rows}, ${m.cols}]`, {
      tensor: name,
      shape: [m.rows, m.cols],
    });
  }
}
