import { ShapeError } from './errors.js';
import { assertFinite, type Matrix } from './matrix.js';
import type { SvdResult } from './svd-types.js';

/**
 * Checks an SVD input: a non-empty matrix whose data length matches its shape
 * ({@link ShapeError}) and whose entries are finite (NonFiniteError), both naming `name`.
 */
export function validateSvdInput(a: Matrix, name: string): void {
  if (!Number.isInteger(a.rows) || !Number.isInteger(a.cols) || a.rows < 1 || a.cols < 1) {
    throw new ShapeError(`SVD needs a non-empty matrix, got ${a.rows}×${a.cols}`, { tensor: name, shape: [a.rows, a.cols] });
  }
  if (a.data.length !== a.rows * a.cols) {
    throw new ShapeError(`data holds ${a.data.length} elements, expected ${a.rows * a.cols}`, {
      tensor: name,
      shape: [a.rows, a.cols],
    });
  }
  assertFinite(a, name);
}

/**
 * Turns unsorted factors into an {@link SvdResult}: `s` (length k), `leftT` = Uᵀ
 * (k×m, row i is uᵢ) and `rightT` = Vt (k×n). Sorts by descending σ (ties keep
 * their order) and applies the documented sign convention: the first entry of
 * largest magnitude in each uᵢ is made positive, flipping vᵢ with it.
 */
export function finishSvd(s: Float64Array, leftT: Float64Array, m: number, rightT: Float64Array, n: number): SvdResult {
  const k = s.length;
  const order = Array.from({ length: k }, (_, i) => i);
  order.sort((i, j) => (s[j] as number) - (s[i] as number) || i - j);
  const S = new Float64Array(k);
  const U = new Float64Array(m * k);
  const Vt = new Float64Array(k * n);
  for (let c = 0; c < k; c++) {
    const src = order[c] as number;
    S[c] = s[src] as number;
    const lrow = src * m;
    let best = 0;
    let bestAbs = -1;
    for (let t = 0; t < m; t++) {
      const v = Math.abs(leftT[lrow + t] as number);
      if (v > bestAbs) {
        bestAbs = v;
        best = t;
      }
    }
    const sign = (leftT[lrow + best] as number) < 0 ? -1 : 1;
    for (let t = 0; t < m; t++) U[t * k + c] = sign * (leftT[lrow + t] as number);
    const rrow = src * n;
    const vrow = c * n;
    for (let t = 0; t < n; t++) Vt[vrow + t] = sign * (rightT[rrow + t] as number);
  }
  return { U: { rows: m, cols: k, data: U }, S, Vt: { rows: k, cols: n, data: Vt } };
}
