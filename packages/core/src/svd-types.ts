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

/**
 * The operands of C = A·Bᵀ on contiguous rows, shared by the JavaScript and
 * WebAssembly kernels (svd-gemm.ts, svd-wasm-kernels.ts): C is m×n (row
 * stride ldc, from cOff), A is m×k (rows at aOff + i·lda), Bᵀ is n rows of
 * length k (at bOff + j·ldb). `subtract` computes C − A·Bᵀ instead of
 * overwriting C.
 */
export type GemmArgs = [
  m: number,
  n: number,
  k: number,
  a: Float64Array,
  aOff: number,
  lda: number,
  b: Float64Array,
  bOff: number,
  ldb: number,
  c: Float64Array,
  cOff: number,
  ldc: number,
  subtract?: boolean,
];
