/**
 * The two weight quantization schemes transformers.js variants use, each as
 * onnxruntime's own quantizers compute it, so that a merged weight can be
 * requantized the way the variant was made:
 * - 8-bit affine (`quantize_dynamic`, MatMulInteger): one scale and zero point
 *   per tensor (or per output column); uint8 asymmetric over [0, 255] with the
 *   range widened to include 0, int8 symmetric over [−127, 127]; codes are
 *   round-half-even(w / scale) + zero point, clipped.
 * - 4-bit blockwise (`MatMulNBitsQuantizer`, MatMulNBits): per output column,
 *   blocks of `blockSize` inputs; symmetric blocks take the value of largest
 *   magnitude m and scale = m / −8, codes = clamp(round(w · (1/scale)) + 8, 0, 15)
 *   in float32 (MLAS `range2scale`, round half away from zero); two codes per
 *   byte, the lower index in the low nibble.
 */

import type { EncodedWeight } from '@tsd-peft/core';

/** round half to even, as numpy's `round`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** roundf: half away from zero. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** An 8-bit affine quantization: codes in the stored type, one scale/zero point per group. */
export interface AffineQuantized {
  readonly codes: Uint8Array;
  readonly scales: Float32Array;
  readonly zeroPoints: Uint8Array;
}

/**
 * Quantizes `values` (row-major [rows, cols]) as onnxruntime's `quantize_dynamic`
 * does: `perColumn` gives one scale per column, else one for the tensor.
 * `signed` selects int8 symmetric (codes stored as two's complement bytes),
 * else uint8 asymmetric.
 */
export function quantizeAffine8(values: ArrayLike<number>, rows: number, cols: number, perColumn: boolean, signed: boolean): AffineQuantized {
  const groups = perColumn ? cols : 1;
  const lo = new Float64Array(groups).fill(0);
  const hi = new Float64Array(groups).fill(0);
  for (let i = 0; i < rows * cols; i++) {
    const g = perColumn ? i % cols : 0;
    const v = Math.fround(values[i] as number);
    if (v < (lo[g] as number)) lo[g] = v;
    if (v > (hi[g] as number)) hi[g] = v;
  }
  const [qmin, qmax] = signed ? [-127, 127] : [0, 255];
  const scales = new Float32Array(groups);
  const zeroPoints = new Uint8Array(groups);
  for (let g = 0; g < groups; g++) {
    let rmin = lo[g] as number;
    let rmax = hi[g] as number;
    if (signed) {
      const m = Math.max(Math.abs(rmin), Math.abs(rmax));
      rmin = -m;
      rmax = m;
    }
    // float32 arithmetic throughout, as numpy does on the float32 weight.
    const scale = Math.fround(Math.fround(rmax - rmin) / (qmax - qmin));
    if (scale < 1.1754943508222875e-38) {
      scales[g] = 1;
      zeroPoints[g] = 0;
    } else {
      scales[g] = scale;
      zeroPoints[g] = signed ? 0 : roundHalfEven(Math.fround(qmin - Math.fround(rmin / scale)));
    }
  }
  const codes = new Uint8Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const g = perColumn ? i % cols : 0;
    const zp = signed ? 0 : (zeroPoints[g] as number);
    const q = Math.min(qmax, Math.max(qmin, roundHalfEven(Math.fround(Math.fround(values[i] as number) / (scales[g] as number))) + zp));
    codes[i] = q & 0xff;
  }
  return { codes, scales, zeroPoints };
}

/** Dequantizes {@link quantizeAffine8}'s layout: (code − zero point) · scale per group. */
export function dequantizeAffine8(codes: Uint8Array, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, cols: number, signed: boolean): Float32Array {
  const perColumn = scales.length > 1;
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const g = perColumn ? i % cols : 0;
    const c = codes[i] as number;
    const q = signed ? (c << 24) >> 24 : c;
    const zp = signed ? ((zeroPoints[g] as number) << 24) >> 24 : (zeroPoints[g] as number);
    out[i] = (q - zp) * (scales[g] as number);
  }
  return out;
}

/** A 4-bit blockwise quantization in MatMulNBits' layout: B [N, blocks, blockSize/2], scales [N, blocks]. */
export interface Blockwise4 {
  readonly packed: Uint8Array;
  readonly scales: Float32Array;
}

/** Number of blocks per column. */
export const blocksOf = (k: number, blockSize: number): number => Math.ceil(k / blockSize);

/**
 * Quantizes W given as [N, K] (row n = output column n of the MatMul, HF's
 * [out, in]) symmetrically in blocks of `blockSize` along K, as MLAS does for
 * MatMulNBits without zero points. Padding past K stays 0 bytes, as onnxruntime leaves it.
 */
export function quantizeBlockwise4(w: ArrayLike<number>, n: number, k: number, blockSize: number): Blockwise4 {
  const blocks = blocksOf(k, blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const end = Math.min(k, start + blockSize);
      let mn = 0;
      let mx = 0;
      for (let i = start; i < end; i++) {
        const v = Math.fround(w[col * k + i] as number);
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      const m = Math.abs(mx) > Math.abs(mn) ? mx : mn;
      const scale = Math.fround(m / -8);
      const rs = scale !== 0 ? Math.fround(1 / scale) : 0;
      scales[col * blocks + b] = scale;
      for (let i = 0; i < end - start; i++) {
        const v = Math.fround(w[col * k + start + i] as number);
        const q = Math.min(15, Math.max(0, roundAway(Math.fround(Math.fround(v * rs) + 8))));
        const at = (col * blocks + b) * blob + (i >> 1);
        packed[at] = (packed[at] as number) | (i % 2 === 0 ? q : q << 4);
      }
    }
  }
  return { packed, scales };
}

/** Dequantizes MatMulNBits' 4-bit codes to W [N, K]; `zeroPoints` (packed 4-bit, per column) default to 8. */
export function dequantizeBlockwise4(packed: Uint8Array, scales: ArrayLike<number>, n: number, k: number, blockSize: number, zeroPoints?: Uint8Array): Float32Array {
  const blocks = blocksOf(k, blockSize);
  const blob = blockSize / 2;
  const zpRow = Math.ceil(blocks / 2);
  const out = new Float32Array(n * k);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < blocks; b++) {
      const s = scales[col * blocks + b] as number;
      let zp = 8;
      if (zeroPoints !== undefined) {
        const byte = zeroPoints[col * zpRow + (b >> 1)] as number;
        zp = b % 2 === 0 ? byte & 15 : byte >> 4;
      }
      for (let i = 0; i < blockSize && b * blockSize + i < k; i++) {
        const byte = packed[(col * blocks + b) * blob + (i >> 1)] as number;
        const q = i % 2 === 0 ? byte & 15 : byte >> 4;
        out[col * k + b * blockSize + i] = (q - zp) * s;
      }
    }
  }
  return out;
}

/** A power of two that is ≥ `n` (≥ 1): the block size giving one scale per row. */
function wholeRowBlock(n: number): number {
  let b = 1;
  while (b < n) b *= 2;
  return b;
}

/**
 * MatMulNBits' 4-bit codes kept as core's 4-bit int8 `EncodedWeight` W [N, K]
 * (HF [out, in]) without expanding them: two codes per byte as the file has
 * them, each stored as q − 8 (a signed nibble; q XOR 8), one scale per (row,
 * block of `blockSize` inputs), and, when the file has zero points, zp − 8 per
 * block as core's int8 zero points — so `decodeWeight` gives exactly
 * {@link dequantizeBlockwise4}'s values (fround((q − zp) · s) both ways), in
 * 0.5 byte per weight plus the scales. When K is a multiple of `blockSize` the
 * file's bytes are already in row-major order; otherwise each row's padding is
 * dropped and the last block of a row is shorter. `blockSize` must be a power
 * of two (core's int8 blocks; MatMulNBits writes 16…256).
 */
export function blockwise4Encoded(packed: Uint8Array, scales: Float32Array, n: number, k: number, blockSize: number, zeroPoints?: Uint8Array): EncodedWeight {
  const blocks = blocksOf(k, blockSize);
  const blob = blockSize / 2;
  let codes: Uint8Array;
  if (k % blockSize === 0) {
    codes = packed.slice(0, (n * k) / 2);
    for (let i = 0; i < codes.length; i++) codes[i] = (codes[i] as number) ^ 0x88;
  } else {
    codes = new Uint8Array(Math.ceil((n * k) / 2));
    for (let col = 0; col < n; col++) {
      for (let i = 0; i < k; i++) {
        const byte = packed[(col * blocks + Math.floor(i / blockSize)) * blob + ((i % blockSize) >> 1)] as number;
        const q = (i % blockSize) % 2 === 0 ? byte & 15 : byte >> 4;
        const e = col * k + i;
        codes[e >> 1] = (codes[e >> 1] as number) | ((q ^ 8) << ((e & 1) << 2));
      }
    }
  }
  let zeros: Int8Array | null = null;
  if (zeroPoints !== undefined) {
    const zpRow = Math.ceil(blocks / 2);
    zeros = new Int8Array(n * blocks);
    for (let col = 0; col < n; col++) {
      for (let b = 0; b < blocks; b++) {
        const byte = zeroPoints[col * zpRow + (b >> 1)] as number;
        zeros[col * blocks + b] = (b % 2 === 0 ? byte & 15 : byte >> 4) - 8;
      }
    }
  }
  return { dtype: 'int8', rows: n, cols: k, codes, scales, blockSize, bits: 4, ...(zeros === null ? {} : { zeroPoints: zeros }) };
}

/**
 * 8-bit affine codes ({@link quantizeAffine8}'s layout, W stored [rows, cols],
 * one scale and zero point per tensor or per column) kept as core's int8
 * `EncodedWeight`, transposed to [cols, rows] when `transpose` (MatMulInteger
 * stores Wᵀ = [in, out]), with one scale and one zero point per output row
 * (blockSize = a power of two ≥ the row length, so one block per row). uint8
 * codes become c − 128 and zero points zp − 128 (both int8, same difference
 * c − zp, which spans up to [−255, 255] and so cannot be a symmetric code);
 * int8 codes stay, with zero points only when some is non-zero. `decodeWeight`
 * then gives exactly {@link dequantizeAffine8}'s values. Returns null for
 * per-column scales of an untransposed table (no such file is read).
 */
export function affine8Encoded(codes: Uint8Array, scales: Float32Array, zeroPoints: Uint8Array, rows: number, cols: number, signed: boolean, transpose: boolean): EncodedWeight | null {
  const perColumn = scales.length > 1;
  if (perColumn && !transpose) return null;
  const [outRows, outCols] = transpose ? [cols, rows] : [rows, cols];
  const shift = signed ? 0 : 128; // uint8 → int8 by −128 on both sides of c − zp
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[transpose ? c * rows + r : r * cols + c] = ((codes[r * cols + c] as number) - shift) & 0xff;
  }
  // a per-column scale (zero point) of the stored Wᵀ [in, out] is a per-row one of W [out, in]
  const perRow = <T extends Float32Array | Int8Array>(make: (n: number) => T, value: (g: number) => number): T => {
    const v = make(outRows);
    for (let r = 0; r < outRows; r++) v[r] = value(perColumn ? r : 0);
    return v;
  };
  const rowScales = perRow(
    (n) => new Float32Array(n),
    (g) => scales[g] as number,
  );
  const rowZeros = perRow(
    (n) => new Int8Array(n),
    (g) => (signed ? ((zeroPoints[g] as number) << 24) >> 24 : (zeroPoints[g] as number) - shift),
  );
  const symmetric = rowZeros.every((z) => z === 0);
  return { dtype: 'int8', rows: outRows, cols: outCols, codes: out, scales: rowScales, blockSize: wholeRowBlock(outCols), zeroPoints: symmetric ? null : rowZeros };
}
