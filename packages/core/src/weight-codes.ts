import { HOST_IS_LITTLE_ENDIAN, decodeBfloat16, numberToBfloat16Bits } from './dtype.js';
import { ConfigError, NonFiniteError, ShapeError } from './errors.js';

/**
 * Frozen base weights stored in reduced precision (issue #19, the QLoRA idea:
 * Dettmers et al. 2023, §2): the base W [rows = out, cols = in] (Hugging Face
 * layout) is kept as codes, and a matmul kernel converts them to fp32 while it
 * packs its panels; adapters, gradients and optimizer state stay fp32.
 *
 * The decoded value of every element is defined exactly (see
 * {@link decodeWeight}), so a kernel can reproduce it bit for bit:
 * - `bfloat16`: the top 16 bits of the float32 (rounded to nearest, ties to
 *   even); decoded as `bits << 16`;
 * - `int8`: symmetric, one fp32 scale per (row, block of {@link INT8_BLOCK_SIZE}
 *   columns); `code = round(x / scale)` in [−127, 127], decoded as
 *   `Math.fround(code * scale)` (an int8 times a float32 is exact in float64,
 *   so this is the correctly rounded fp32 product that `f32.mul` gives);
 *   with optional per-block zero points, `Math.fround((code − zp) * scale)`.
 */

/** The element types a frozen weight may be kept in. */
export const FROZEN_DTYPES = ['float32', 'bfloat16', 'int8'] as const;

/** One element type of a frozen weight: fp32 (as loaded), bfloat16 or blockwise int8. */
export type FrozenDtype = (typeof FROZEN_DTYPES)[number];

/**
 * Columns per int8 scale block. 32 is GGML's q8_0 block (QLoRA's NF4 uses 64):
 * small enough that one outlier costs precision in only 32 weights, large
 * enough that the fp32 scales add 4/32 = 0.125 bytes per weight (1.125 in all,
 * against 4 for fp32). A power of two, so kernels find a column's block by a
 * shift. The last block of a row may be shorter when `cols` is not a multiple.
 */
export const INT8_BLOCK_SIZE = 32;

/**
 * A weight W [rows, cols] (row-major, Hugging Face [out, in]) in reduced
 * precision. `codes` holds `rows·cols` elements in row-major order: little-
 * endian uint16 bfloat16 bits (2 bytes each), or two's-complement int8 (1 byte
 * each). For int8, `scales[row · ceil(cols / blockSize) + floor(col / blockSize)]`
 * is the scale of element (row, col); for bfloat16, `scales` and `blockSize`
 * are null.
 *
 * An int8 weight may also carry `zeroPoints`, one int8 per scale block (same
 * index as `scales`), and then decodes as `fround((code − zeroPoint) · scale)`
 * (the difference is an exact integer in [−255, 255]). This keeps the codes of
 * an asymmetric uint8 file (onnxruntime's `quantize_dynamic`, zero points near
 * 128) without rounding: code = c − 128 and zeroPoint = zp − 128, both int8,
 * with the same difference c − zp. Absent or null: symmetric (zero point 0).
 */
export interface EncodedWeight {
  dtype: 'bfloat16' | 'int8';
  rows: number;
  cols: number;
  codes: Uint8Array;
  scales: Float32Array | null;
  blockSize: number | null;
  zeroPoints?: Int8Array | null;
  /**
   * int8 only: 4 packs two signed 4-bit codes (two's complement, [−8, 7]) per byte, element i of the
   * row-major weight in byte i >> 1, the even element in the low nibble (0.5 byte per weight: a q4 file's
   * MatMulNBits codes as q − 8). Absent or 8: one int8 code per byte.
   */
  bits?: 4 | 8;
}

/** Bytes of codes of an encoded weight: rows·cols·2 (bfloat16), rows·cols (int8) or ceil(rows·cols / 2) (4-bit int8). */
export function codeByteLength(w: Pick<EncodedWeight, 'dtype' | 'rows' | 'cols' | 'bits'>): number {
  const n = w.rows * w.cols;
  return w.dtype === 'int8' && w.bits === 4 ? Math.ceil(n / 2) : n * codeBytesPerElement(w.dtype);
}

/** Code i (row-major) of a 4-bit int8 weight, sign-extended. */
function nibbleAt(codes: Uint8Array, i: number): number {
  return (((codes[i >> 1] as number) >> ((i & 1) << 2)) << 28) >> 28;
}

/** True when `s` names a {@link FrozenDtype}. */
export function isFrozenDtype(s: unknown): s is FrozenDtype {
  return typeof s === 'string' && (FROZEN_DTYPES as readonly string[]).includes(s);
}

/** Scale blocks per row of an int8 weight with `cols` columns. */
export function int8BlocksPerRow(cols: number, blockSize = INT8_BLOCK_SIZE): number {
  return Math.ceil(cols / blockSize);
}

/** Bytes per element of the codes of `dtype` (2 for bfloat16, 1 for int8). */
export function codeBytesPerElement(dtype: EncodedWeight['dtype']): number {
  return dtype === 'bfloat16' ? 2 : 1;
}

/** Bytes an encoded weight holds: its codes and its scales. */
export function encodedWeightBytes(w: EncodedWeight): number {
  return w.codes.byteLength + (w.scales?.byteLength ?? 0) + (w.zeroPoints?.byteLength ?? 0);
}

function checkDims(rows: number, cols: number, name: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new ShapeError(`invalid weight dimensions ${rows}×${cols}`, { tensor: name, shape: [rows, cols] });
  }
}

/**
 * Encodes a float32 weight W [rows, cols] as bfloat16 (round to nearest,
 * ties to even, as torch's `.to(torch.bfloat16)`) or as blockwise symmetric
 * int8 (`scale = fround(max|x| / 127)` per row block, `code = round(x / scale)`
 * with ties to even; an all-zero block gets scale 0 and codes 0, as does a
 * block whose max|x| / 127 underflows float32). Throws a `ShapeError` when
 * `data` does not hold rows·cols values, a `ConfigError` for another dtype,
 * and a `NonFiniteError` (naming the tensor and the element) for NaN or ±Inf,
 * or for a value beyond bfloat16's range.
 */
export function encodeWeight(data: Float32Array, rows: number, cols: number, dtype: EncodedWeight['dtype'], name = 'weight'): EncodedWeight {
  checkDims(rows, cols, name);
  if (data.length !== rows * cols) {
    throw new ShapeError(`expected ${rows * cols} values for a ${rows}×${cols} weight, got ${data.length}`, { tensor: name, shape: [rows, cols] });
  }
  if (dtype === 'bfloat16') return encodeBfloat16Weight(data, rows, cols, name);
  if (dtype === 'int8') return encodeInt8Weight(data, rows, cols, name);
  throw new ConfigError(`cannot encode a weight as ${String(dtype)}: expected 'bfloat16' or 'int8'`, { tensor: name, field: 'dtype' });
}

function nonFinite(name: string, rows: number, cols: number, index: number, value: number, why = ''): NonFiniteError {
  const row = cols === 0 ? 0 : Math.floor(index / cols);
  return new NonFiniteError(`element [${row}, ${index - row * cols}] is ${value}${why}; a frozen weight must be finite`, { tensor: name, shape: [rows, cols] });
}

function encodeBfloat16Weight(data: Float32Array, rows: number, cols: number, name: string): EncodedWeight {
  const codes = new Uint8Array(2 * data.length);
  // little-endian uint16 stores where the host is little-endian (the usual case), byte pairs elsewhere
  const halves = HOST_IS_LITTLE_ENDIAN ? new Uint16Array(codes.buffer) : null;
  for (let i = 0; i < data.length; i++) {
    const value = data[i] as number;
    const bits = numberToBfloat16Bits(value);
    if ((bits & 0x7f80) === 0x7f80) throw nonFinite(name, rows, cols, i, value, Number.isFinite(value) ? ', beyond bfloat16 range' : '');
    if (halves !== null) halves[i] = bits;
    else {
      codes[2 * i] = bits & 0xff;
      codes[2 * i + 1] = bits >>> 8;
    }
  }
  return { dtype: 'bfloat16', rows, cols, codes, scales: null, blockSize: null };
}

/** Rounds to the nearest integer, ties to even (as numpy and torch round). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function encodeInt8Weight(data: Float32Array, rows: number, cols: number, name: string): EncodedWeight {
  const blockSize = INT8_BLOCK_SIZE;
  const blocks = int8BlocksPerRow(cols, blockSize);
  const codes = new Uint8Array(data.length);
  const codesSigned = new Int8Array(codes.buffer);
  const scales = new Float32Array(rows * blocks);
  for (let row = 0; row < rows; row++) {
    for (let block = 0; block < blocks; block++) {
      const start = row * cols + block * blockSize;
      const end = row * cols + Math.min(cols, (block + 1) * blockSize);
      let maxAbs = 0;
      for (let i = start; i < end; i++) {
        const value = data[i] as number;
        if (!Number.isFinite(value)) throw nonFinite(name, rows, cols, i, value);
        maxAbs = Math.max(maxAbs, Math.abs(value));
      }
      const scale = Math.fround(maxAbs / 127);
      scales[row * blocks + block] = scale;
      if (scale === 0) continue; // codes stay 0
      for (let i = start; i < end; i++) {
        // fround(max/127) may round down, so the largest |x| / scale can exceed 127 by an ulp: clamp
        codesSigned[i] = Math.max(-127, Math.min(127, roundHalfEven((data[i] as number) / scale)));
      }
    }
  }
  return { dtype: 'int8', rows, cols, codes, scales, blockSize };
}

/**
 * Checks that an {@link EncodedWeight} is consistent (dtype, code and scale
 * lengths, block size) before a kernel reads it; throws a `ConfigError` or
 * `ShapeError` naming `name`.
 */
export function validateEncodedWeight(w: EncodedWeight, name = 'weight'): void {
  checkDims(w.rows, w.cols, name);
  if (w.dtype !== 'bfloat16' && w.dtype !== 'int8') {
    throw new ConfigError(`unknown encoded weight dtype ${String(w.dtype)}: expected 'bfloat16' or 'int8'`, { tensor: name, field: 'dtype' });
  }
  if (w.bits !== undefined && w.bits !== 8 && !(w.bits === 4 && w.dtype === 'int8')) {
    throw new ConfigError(`${w.dtype} codes cannot have ${String(w.bits)} bits: expected 8, or 4 for int8`, { tensor: name, field: 'bits' });
  }
  const codeBytes = codeByteLength(w);
  if (w.codes.byteLength !== codeBytes) {
    throw new ShapeError(`expected ${codeBytes} bytes of ${w.bits === 4 ? '4-bit ' : ''}${w.dtype} codes, got ${w.codes.byteLength}`, { tensor: name, shape: [w.rows, w.cols] });
  }
  if (w.dtype === 'bfloat16') {
    if (w.scales !== null || w.blockSize !== null || (w.zeroPoints ?? null) !== null) {
      throw new ConfigError('a bfloat16 weight has no scales, zero points or block size', { tensor: name, field: 'scales' });
    }
    return;
  }
  const blockSize = w.blockSize;
  if (blockSize === null || !Number.isInteger(blockSize) || blockSize < 1 || (blockSize & (blockSize - 1)) !== 0) {
    throw new ConfigError(`int8 block size must be a power of two, got ${String(blockSize)}`, { tensor: name, field: 'blockSize' });
  }
  const scaleCount = w.rows * int8BlocksPerRow(w.cols, blockSize);
  if (w.scales === null || w.scales.length !== scaleCount) {
    throw new ShapeError(`expected ${scaleCount} int8 scales (${w.rows} rows × ${int8BlocksPerRow(w.cols, blockSize)} blocks of ${blockSize}), got ${w.scales?.length ?? 'none'}`, {
      tensor: name,
      shape: [w.rows, w.cols],
    });
  }
  const zeroPoints = w.zeroPoints ?? null;
  if (zeroPoints !== null && zeroPoints.length !== scaleCount) {
    throw new ShapeError(`expected ${scaleCount} int8 zero points (one per scale block), got ${zeroPoints.length}`, { tensor: name, shape: [w.rows, w.cols] });
  }
}

/**
 * The exact float32 values of an encoded weight, row-major [rows, cols]:
 * bfloat16 bits shifted into the top of a float32; int8 codes times their
 * block's scale, rounded once to float32. The matmul kernels convert codes by
 * the same rule, so their products equal fp32 products with this matrix.
 */
export function decodeWeight(w: EncodedWeight, name = 'weight'): Float32Array {
  validateEncodedWeight(w, name);
  if (w.dtype === 'bfloat16') return decodeBfloat16(w.codes);
  const out = new Float32Array(w.rows * w.cols);
  for (let row = 0; row < w.rows; row++) decodeInt8Row(w, row, out, row * w.cols);
  return out;
}

/** Decodes row `row` of an int8 weight (8- or 4-bit codes) into `out` at `at`, block by block. */
function decodeInt8Row(w: EncodedWeight, row: number, out: Float32Array, at: number): void {
  const packed4 = w.bits === 4;
  const codes = new Int8Array(w.codes.buffer, w.codes.byteOffset + (packed4 ? 0 : row * w.cols), packed4 ? 0 : w.cols);
  const base = row * w.cols; // element index of the row's first code (4-bit codes are addressed by element)
  const scales = w.scales as Float32Array;
  const blockSize = w.blockSize as number;
  const zeroPoints = w.zeroPoints ?? null;
  const first = row * int8BlocksPerRow(w.cols, blockSize);
  for (let start = 0, block = first; start < w.cols; start += blockSize, block++) {
    const scale = scales[block] as number;
    const zero = zeroPoints === null ? 0 : (zeroPoints[block] as number);
    const end = Math.min(w.cols, start + blockSize);
    for (let col = start; col < end; col++) {
      const code = packed4 ? nibbleAt(w.codes, base + col) : (codes[col] as number);
      out[at + col] = Math.fround((code - zero) * scale);
    }
  }
}

/**
 * The exact float32 values (as {@link decodeWeight}) of the listed rows of an
 * encoded weight, as [rows.length, cols]: an embedding lookup in a frozen
 * table. Writes into `out` when given (e.g. a view of a backend's heap).
 * Throws a `ShapeError` for a row outside [0, rows) or an `out` of the wrong
 * length, before writing anything.
 */
export function decodeWeightRows(w: EncodedWeight, rows: ArrayLike<number>, name = 'weight', out: Float32Array = new Float32Array(rows.length * w.cols)): Float32Array {
  validateEncodedWeight(w, name);
  if (out.length !== rows.length * w.cols) throw new ShapeError(`output holds ${out.length} values, expected ${rows.length * w.cols}`, { tensor: name, shape: [rows.length, w.cols] });
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as number;
    if (!Number.isInteger(row) || row < 0 || row >= w.rows) throw new ShapeError(`row ${row} is outside [0, ${w.rows})`, { tensor: name, shape: [w.rows, w.cols] });
  }
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  // little-endian uint16 codes read as such where the host and the alignment allow (4× faster than byte pairs)
  const halves = w.dtype === 'bfloat16' && HOST_IS_LITTLE_ENDIAN && w.codes.byteOffset % 2 === 0 ? new Uint16Array(w.codes.buffer, w.codes.byteOffset, w.rows * w.cols) : null;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as number;
    const at = r * w.cols;
    if (w.dtype === 'int8') decodeInt8Row(w, row, out, at);
    else if (halves !== null) for (let col = 0, i = row * w.cols; col < w.cols; col++, i++) bits[at + col] = (halves[i] as number) << 16;
    else for (let col = 0, i = 2 * row * w.cols; col < w.cols; col++, i += 2) bits[at + col] = ((w.codes[i] as number) | ((w.codes[i + 1] as number) << 8)) << 16;
  }
  return out;
}
