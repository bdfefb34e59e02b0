import { ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';

/** C = A · B in Float64 (accumulation in double whatever the inputs' storage). */
export function matmul(a: Matrix, b: Matrix, names: [string, string] = ['A', 'B']): Matrix<Float64Array> {
  if (a.cols !== b.rows) {
    throw new ShapeError(`cannot multiply [${a.rows}, ${a.cols}] by [${b.rows}, ${b.cols}]`, {
      tensor: `${names[0]}·${names[1]}`,
      shape: [a.rows, a.cols, b.rows, b.cols],
    });
  }
  const m = a.rows;
  const k = a.cols;
  const n = b.cols;
  const out = new Float64Array(m * n);
  const ad = a.data;
  const bd = b.data;
  // i-p-j order streams rows of B, which keeps the inner loop contiguous.
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const aip = ad[i * k + p] as number;
      if (aip === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] = (out[row + j] as number) + aip * (bd[brow + j] as number);
    }
  }
  return { rows: m, cols: n, data: out };
}

/** Aᵀ in Float64. */
export function transpose(a: Matrix): Matrix<Float64Array> {
  const out = new Float64Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < a.cols; j++) out[j * a.rows + i] = a.data[i * a.cols + j] as number;
  }
  return { rows: a.cols, cols: a.rows, data: out };
}

/** Frobenius norm ‖A‖_F. */
export function frobeniusNorm(a: Matrix): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const v = a.data[i] as number;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

/** max |Aᵢⱼ − Bᵢⱼ|, for tests and tolerances. */
export function maxAbsDiff(a: Matrix, b: Matrix): number {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new ShapeError(`shapes differ: [${a.rows}, ${a.cols}] vs [${b.rows}, ${b.cols}]`);
  }
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    if (d > max || Number.isNaN(d)) max = d;
  }
  return max;
}
