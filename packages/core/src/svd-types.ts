import type { Matrix } from './matrix.js';

/**
 * A thin singular value decomposition A ≈ U · diag(S) · Vt of an m×n matrix,
 * with k = min(m, n). Always Float64, whatever the input storage.
 *
 * Sign convention (shared by {@link svd} and {@link randomizedSvd}): for each i,
 * the entry of largest magnitude in column uᵢ of U (the first such entry on a
 * tie) is positive; row vᵢ of Vt is flipped together with it, so the product
 * is unchanged.
 */
export interface SvdResult {
  /** Left singular vectors as columns, shape [m, k]. */
  readonly U: Matrix<Float64Array>;
  /** Singular values, length k, non-negative and descending. */
  readonly S: Float64Array;
  /** Right singular vectors as rows, shape [k, n]. */
  readonly Vt: Matrix<Float64Array>;
}
