import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  HOST_IS_LITTLE_ENDIAN,
  ShapeError,
  codeByteLength,
  codeBytesPerElement,
  decodeWeight,
  decodeWeightRows,
  encodeWeight,
  int8BlocksPerRow,
  validateEncodedWeight,
  type EncodedWeight,
} from '@tsd-peft/core';

/**
 * A frozen weight W [rows = out, cols = in] held in reduced precision on the
 * active backend (issue #19: QLoRA-style frozen bases). The codes (see core's
 * `EncodedWeight`) live in an int32 tensor of packed little-endian bytes, so on
 * wasm they sit on the backend's heap where the matmul kernel reads them in
 * place; int8 scales live in a float32 tensor. Both tensors are kept (they
 * survive `tf.tidy`) until {@link ReducedWeight.dispose}. W never gets a
 * gradient.
 */
export class ReducedWeight {
  /** Packed code bytes (rows·cols·2 for bfloat16, rows·cols for int8, zero-padded to whole int32 words). */
  readonly codes: tf.Tensor1D;
  /** int8: one fp32 scale per (row, block of `blockSize` columns), row-major; bfloat16: null. */
  readonly scales: tf.Tensor1D | null;
  /** int8: columns per scale block; bfloat16: null. */
  readonly blockSize: number | null;
  /** int8 with zero points (an asymmetric file's codes): one int8 per scale block, as packed bytes in int32 words; else null. */
  readonly zeroPoints: tf.Tensor1D | null;
  /** int8: 4 when two 4-bit codes share a byte (core's `EncodedWeight.bits`), else 8; bfloat16: 16. */
  readonly bits: 4 | 8 | 16;
  private disposedFlag = false;

  private constructor(
    readonly name: string,
    readonly dtype: EncodedWeight['dtype'],
    readonly rows: number,
    readonly cols: number,
    encoded: EncodedWeight,
  ) {
    this.blockSize = encoded.blockSize;
    this.bits = encoded.dtype === 'bfloat16' ? 16 : (encoded.bits ?? 8);
    this.codes = tf.keep(tf.tensor1d(packedWords(encoded.codes), 'int32'));
    this.scales = encoded.scales === null ? null : tf.keep(tf.tensor1d(encoded.scales, 'float32'));
    const zeroPoints = encoded.zeroPoints ?? null;
    this.zeroPoints = zeroPoints === null ? null : tf.keep(tf.tensor1d(packedWords(new Uint8Array(zeroPoints.buffer, zeroPoints.byteOffset, zeroPoints.length)), 'int32'));
  }

  /**
   * Encodes a float32 weight (row-major [rows, cols]) as `dtype` (core's
   * `encodeWeight`: bfloat16 rounded to nearest even, or blockwise int8) and
   * uploads it. Errors are core's typed errors, naming `name`.
   */
  static fromFloat32(data: Float32Array, rows: number, cols: number, dtype: EncodedWeight['dtype'], name = 'weight'): ReducedWeight {
    return ReducedWeight.fromEncoded(encodeWeight(data, rows, cols, dtype, name), name);
  }

  /** Encodes a 2-D float32 tensor W [out, in] as `dtype` (reads it to the host once; `w` is not disposed). */
  static fromTensor(w: tf.Tensor2D, dtype: EncodedWeight['dtype'], name = 'weight'): ReducedWeight {
    if (w.rank !== 2) throw new ShapeError('a reduced weight must be 2-D', { tensor: name, shape: w.shape });
    const values = w.dataSync(); // already a copy on wasm and GPUs: encoded without another one
    return ReducedWeight.fromFloat32(values instanceof Float32Array ? values : Float32Array.from(values), w.shape[0], w.shape[1], dtype, name);
  }

  /** Uploads codes that are already encoded (validated first; a `ConfigError`/`ShapeError` names `name`). */
  static fromEncoded(encoded: EncodedWeight, name = 'weight'): ReducedWeight {
    validateEncodedWeight(encoded, name);
    // the int32 words alias the code bytes, so the byte order must be the wasm heap's (little-endian)
    if (!HOST_IS_LITTLE_ENDIAN) throw new ConfigError('reduced-precision weights need a little-endian host', { tensor: name, field: 'dtype' });
    return new ReducedWeight(name, encoded.dtype, encoded.rows, encoded.cols, encoded);
  }

  /** Backend bytes held: the packed codes, the scales and any zero points. */
  get bytes(): number {
    return 4 * this.codes.size + 4 * (this.scales?.size ?? 0) + 4 * (this.zeroPoints?.size ?? 0);
  }

  /** int8 scale blocks per row (0 for bfloat16). */
  get blocksPerRow(): number {
    return this.blockSize === null ? 0 : int8BlocksPerRow(this.cols, this.blockSize);
  }

  /** True after {@link ReducedWeight.dispose}. */
  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** The codes and scales read back to the host (a copy) as core's `EncodedWeight`. */
  encoded(): EncodedWeight {
    this.assertLive();
    const words = this.codes.dataSync() as Int32Array;
    const bits = this.bits === 4 ? ({ bits: 4 } as const) : {};
    const codes = new Uint8Array(words.buffer, words.byteOffset, codeByteLength({ dtype: this.dtype, rows: this.rows, cols: this.cols, ...bits }));
    const scales = this.scales === null ? null : Float32Array.from(this.scales.dataSync());
    const zeroWords = this.zeroPoints?.dataSync() as Int32Array | undefined;
    const zeroPoints = zeroWords === undefined ? null : new Int8Array(zeroWords.buffer, zeroWords.byteOffset, scales?.length ?? 0);
    return { dtype: this.dtype, rows: this.rows, cols: this.cols, codes, scales, blockSize: this.blockSize, ...(zeroPoints === null ? {} : { zeroPoints }), ...bits };
  }

  /**
   * W decoded exactly to a new float32 tensor [rows, cols] (core's
   * `decodeWeight`), e.g. for merges and SVDs; the caller disposes it.
   */
  decode(): tf.Tensor2D {
    return tf.tensor2d(decodeWeight(this.encoded(), this.name), [this.rows, this.cols]);
  }

  /** Frees the codes and scales (idempotent). */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.codes.dispose();
    this.scales?.dispose();
    this.zeroPoints?.dispose();
  }

  /** Throws when the weight was disposed. */
  assertLive(): void {
    if (this.disposedFlag) throw new ConfigError('reduced weight was disposed', { tensor: this.name });
  }
}

/** Bytes as int32 words for a tensor: aligned whole words viewed in place (tf.tensor copies them), others copied, zero-padded. */
function packedWords(bytes: Uint8Array): Int32Array {
  if (bytes.byteLength % 4 === 0 && bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const words = new Int32Array(Math.ceil(bytes.byteLength / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
}

/** A faster route for the forward product (the wasm kernel), or null to use the reference. */
export type ReducedMatMulKernel = (x: tf.Tensor2D, w: ReducedWeight, transposeW: boolean) => tf.Tensor2D | null;
/** A faster row gather (the wasm heap), or null to use the reference. */
export type ReducedGatherKernel = (w: ReducedWeight, ids: tf.Tensor1D) => tf.Tensor2D | null;

let matMulKernel: ReducedMatMulKernel | null = null;
let gatherKernel: ReducedGatherKernel | null = null;

/** Installs the backend kernels {@link reducedMatMul} and {@link reducedGather} try first (wasm-reduced-gemm.ts). */
export function setReducedKernels(kernels: { matMul: ReducedMatMulKernel | null; gather: ReducedGatherKernel | null }): void {
  matMulKernel = kernels.matMul;
  gatherKernel = kernels.gather;
}

/** The reference product on every backend: W decoded to fp32, then the ordinary matMul. */
function referenceMatMul(x: tf.Tensor2D, w: ReducedWeight, transposeW: boolean): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(x, w.decode(), false, transposeW));
}

/**
 * `x·Wᵀ` (`transposeW = true`: a linear layer's forward, x [n, cols]) or
 * `x·W` (`false`: its backward dx = dy·W, x [n, rows]) with W in reduced
 * precision, as a float32 [n, rows] or [n, cols] tensor. On wasm the kernel
 * converts W's codes while packing its panels and equals the fp32 kernel on
 * the decoded W bit for bit; elsewhere W is decoded to fp32 inside a tidy.
 * Differentiable with respect to x only (the gradient of x·Wᵀ is dy·W,
 * computed by this function again); W gets no gradient.
 */
export function reducedMatMul(x: tf.Tensor2D, w: ReducedWeight, transposeW: boolean): tf.Tensor2D {
  w.assertLive();
  const inner = transposeW ? w.cols : w.rows;
  if (x.rank !== 2 || x.shape[1] !== inner) {
    throw new ShapeError(`input must be [n, ${inner}] for ${transposeW ? 'x·Wᵀ' : 'x·W'} with W [${w.rows}, ${w.cols}]`, { tensor: w.name, shape: x.shape });
  }
  const product = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = (args[0] as tf.Tensor2D).dtype === 'float32' ? (args[0] as tf.Tensor2D) : tf.cast(args[0] as tf.Tensor2D, 'float32');
    const value = matMulKernel?.(input, w, transposeW) ?? referenceMatMul(input, w, transposeW);
    return { value, gradFunc: (dy: tf.Tensor) => reducedMatMul(dy as tf.Tensor2D, w, !transposeW) };
  });
  return product(x) as tf.Tensor2D;
}

/**
 * Rows `ids` of W as float32 [ids.length, cols]: an embedding lookup in a
 * frozen (possibly tied) table, decoding only the gathered rows. No gradient
 * reaches W. Throws a `ShapeError` for an id outside [0, rows).
 */
export function reducedGather(w: ReducedWeight, ids: tf.Tensor1D): tf.Tensor2D {
  w.assertLive();
  if (ids.rank !== 1 || ids.dtype !== 'int32') throw new ShapeError(`ids must be a 1-D int32 tensor, got ${ids.dtype} of rank ${ids.rank}`, { tensor: w.name, shape: ids.shape });
  return gatherKernel?.(w, ids) ?? referenceGather(w, ids);
}

/**
 * The reference gather: the rows' code words (and scales) gathered on the
 * backend when a row is a whole number of int32 words, else the whole table
 * read back; then core's `decodeWeightRows` on the host.
 */
function referenceGather(w: ReducedWeight, ids: tf.Tensor1D): tf.Tensor2D {
  const rowIds = Array.from(ids.dataSync());
  const rowBytes = w.cols * codeBytesPerElement(w.dtype);
  if (rowBytes % 4 !== 0 || rowIds.length === 0 || w.zeroPoints !== null || w.bits === 4) return tf.tensor2d(decodeWeightRows(w.encoded(), rowIds, w.name), [rowIds.length, w.cols]);
  for (const id of rowIds) {
    if (!Number.isInteger(id) || id < 0 || id >= w.rows) throw new ShapeError(`row ${id} is outside [0, ${w.rows})`, { tensor: w.name, shape: [w.rows, w.cols] });
  }
  const at = tf.tensor1d(rowIds, 'int32');
  const codeRows = tf.tidy(() => tf.gather(tf.reshape(w.codes, [w.rows, rowBytes / 4]), at));
  const scaleRows = w.scales === null ? null : tf.tidy(() => tf.gather(tf.reshape(w.scales as tf.Tensor1D, [w.rows, w.blocksPerRow]), at));
  const words = codeRows.dataSync() as Int32Array;
  const scales = scaleRows === null ? null : (scaleRows.dataSync() as Float32Array);
  tf.dispose([at, codeRows, ...(scaleRows === null ? [] : [scaleRows])]);
  const picked: EncodedWeight = {
    dtype: w.dtype,
    rows: rowIds.length,
    cols: w.cols,
    codes: new Uint8Array(words.buffer, words.byteOffset, rowIds.length * rowBytes),
    scales,
    blockSize: w.blockSize,
  };
  return tf.tensor2d(decodeWeight(picked, w.name), [rowIds.length, w.cols]);
}
