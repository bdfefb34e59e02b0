/**
 * Dense kernels for the SVD: C = A·Bᵀ with both operands stored as contiguous
 * rows. Large products run in a WebAssembly SIMD kernel (~20 GFlop/s here);
 * the JavaScript fallback is register-blocked (12 independent accumulators keep
 * V8's scalar pipeline busy: ~7 GFlop/s versus ~1 for a plain triple loop).
 */

import type { GemmArgs } from './svd-types.js';
import { gemmABtWasm } from './svd-wasm-kernels.js';

/** m·n·k from which {@link gemmABt} uses the WebAssembly kernel. */
const WASM_MIN_WORK = 16 * 16 * 16;

/**
 * C (m×n, row stride ldc, from cOff) = A·Bᵀ with A m×k (rows at aOff + i·lda)
 * and Bᵀ given as n rows of length k (at bOff + j·ldb). Overwrites C, or with
 * `subtract` computes C − A·Bᵀ.
 */
export function gemmABt(...args: GemmArgs): void {
  const [m, n, k] = args;
  // Large products go to the WebAssembly SIMD kernel (≈3× faster); tiny ones
  // are not worth the operand copies.
  if (m * n * k >= WASM_MIN_WORK && gemmABtWasm(...args)) return;
  gemmABtScalar(...args);
}

/** The JavaScript kernel behind {@link gemmABt} (same contract), exported for tests. */
export function gemmABtScalar(...[m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, subtract = false]: GemmArgs): void {
  // 3×4 register blocks: 12 accumulators + 5 live operands fit x64's 16 vector
  // registers, measured ~10% faster here than 4×4 (which spills).
  const m3 = m - (m % 3);
  const n4 = n - (n % 4);
  for (let i = 0; i < m3; i += 3) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    for (let j = 0; j < n4; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0,
        c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0;
      for (let p = 0; p < k; p++) {
        const y0 = b[b0 + p] as number;
        const y1 = b[b1 + p] as number;
        const y2 = b[b2 + p] as number;
        const y3 = b[b3 + p] as number;
        let x = a[a0 + p] as number;
        c00 += x * y0;
        c01 += x * y1;
        c02 += x * y2;
        c03 += x * y3;
        x = a[a1 + p] as number;
        c10 += x * y0;
        c11 += x * y1;
        c12 += x * y2;
        c13 += x * y3;
        x = a[a2 + p] as number;
        c20 += x * y0;
        c21 += x * y1;
        c22 += x * y2;
        c23 += x * y3;
      }
      let o = cOff + i * ldc + j;
      if (subtract) {
        c[o] = (c[o] as number) - c00;
        c[o + 1] = (c[o + 1] as number) - c01;
        c[o + 2] = (c[o + 2] as number) - c02;
        c[o + 3] = (c[o + 3] as number) - c03;
        o += ldc;
        c[o] = (c[o] as number) - c10;
        c[o + 1] = (c[o + 1] as number) - c11;
        c[o + 2] = (c[o + 2] as number) - c12;
        c[o + 3] = (c[o + 3] as number) - c13;
        o += ldc;
        c[o] = (c[o] as number) - c20;
        c[o + 1] = (c[o + 1] as number) - c21;
        c[o + 2] = (c[o + 2] as number) - c22;
        c[o + 3] = (c[o + 3] as number) - c23;
      } else {
        c[o] = c00;
        c[o + 1] = c01;
        c[o + 2] = c02;
        c[o + 3] = c03;
        o += ldc;
        c[o] = c10;
        c[o + 1] = c11;
        c[o + 2] = c12;
        c[o + 3] = c13;
        o += ldc;
        c[o] = c20;
        c[o + 1] = c21;
        c[o + 2] = c22;
        c[o + 3] = c23;
      }
    }
    for (let j = n4; j < n; j++) {
      for (let r = 0; r < 3; r++) store(c, cOff + (i + r) * ldc + j, dot(a, a0 + r * lda, b, bOff + j * ldb, k), subtract);
    }
  }
  for (let i = m3; i < m; i++) {
    for (let j = 0; j < n; j++) store(c, cOff + i * ldc + j, dot(a, aOff + i * lda, b, bOff + j * ldb, k), subtract);
  }
}

function store(c: Float64Array, o: number, value: number, subtract: boolean): void {
  c[o] = subtract ? (c[o] as number) - value : value;
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
