/**
 * Dense kernels for the SVD: C = A·Bᵀ with both operands stored as contiguous
 * rows, 4×4 register-blocked (16 independent accumulators keep V8's scalar
 * pipeline busy: ~5 GFlop/s here versus ~1 GFlop/s for a plain triple loop).
 */

/**
 * C (m×n, row stride ldc, from cOff) = A·Bᵀ with A m×k (rows at aOff + i·lda)
 * and Bᵀ given as n rows of length k (at bOff + j·ldb). Overwrites C, or with
 * `subtract` computes C − A·Bᵀ.
 */
export function gemmABt(
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
  subtract = false,
): void {
  if (subtract) {
    const tmp = new Float64Array(m * n);
    gemmABt(m, n, k, a, aOff, lda, b, bOff, ldb, tmp, 0, n);
    for (let i = 0; i < m; i++) {
      const row = cOff + i * ldc;
      for (let j = 0; j < n; j++) c[row + j] = (c[row + j] as number) - (tmp[i * n + j] as number);
    }
    return;
  }
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p] as number;
        const x1 = a[a1 + p] as number;
        const x2 = a[a2 + p] as number;
        const x3 = a[a3 + p] as number;
        const y0 = b[b0 + p] as number;
        const y1 = b[b1 + p] as number;
        const y2 = b[b2 + p] as number;
        const y3 = b[b3 + p] as number;
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let o = cOff + i * ldc + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03;
      o += ldc;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13;
      o += ldc;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23;
      o += ldc;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33;
    }
    for (let j = n4; j < n; j++) {
      for (let r = 0; r < 4; r++) c[cOff + (i + r) * ldc + j] = dot(a, a0 + r * lda, b, bOff + j * ldb, k);
    }
  }
  for (let i = m4; i < m; i++) {
    for (let j = 0; j < n; j++) c[cOff + i * ldc + j] = dot(a, aOff + i * lda, b, bOff + j * ldb, k);
  }
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, k: number): number {
  let s0 = 0;
  let s1 = 0;
  let p = 0;
  for (; p + 1 < k; p += 2) {
    s0 += (a[ao + p] as number) * (b[bo + p] as number);
    s1 += (a[ao + p + 1] as number) * (b[bo + p + 1] as number);
  }
  if (p < k) s0 += (a[ao + p] as number) * (b[bo + p] as number);
  return s0 + s1;
}

/** The transpose of a row-major rows×cols block (from off, row stride ld) as a new cols×rows array. */
export function transposeBlock(a: Float64Array, off: number, ld: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  // Tiles keep both the reads and the writes within a few cache lines.
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(i0 + T, rows);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(j0 + T, cols);
      for (let i = i0; i < i1; i++) {
        const src = off + i * ld;
        for (let j = j0; j < j1; j++) out[j * rows + i] = a[src + j] as number;
      }
    }
  }
  return out;
}
