/**
 * Merging a LoRA update into a quantized weight of a dtype variant:
 * dequantize the module's weight, add ΔW (float64), and requantize with the
 * variant's own scheme (8-bit affine per tensor or per column; 4-bit
 * symmetric blockwise with the node's block size), rewriting codes, scales
 * and zero points in place (same byte lengths). Before merging, the stored
 * codes must survive a requantization of their own dequantized values: a
 * variant made by another scheme is refused rather than silently re-binned.
 */
import { OnnxError, type DashTerm, type LoraFactors } from '@tsd-peft/core';
import type { GraphIndex } from './locate-weight.js';
import { mergedStoredValues } from './merge-values.js';
import { OnnxDataType, type OnnxModel, type OnnxTensor } from './onnx-model.js';
import { dequantizeAffine8, dequantizeBlockwise4, quantizeAffine8, quantizeBlockwise4 } from './quantize.js';
import type { Int8Linear, NBitsLinear, QuantizedLinear } from './quantized-linear.js';
import type { ByteEdit } from './splice.js';
import { encodeBytesWrite, encodeTensorWrite, readTensorBytes, readTensorFloat32, type ExternalDataReader, type ExternalWrite, type TensorWrite } from './tensor-data.js';

/** The writes of one merged quantized module. */
export interface QuantizedMerge {
  readonly edits: ByteEdit[];
  readonly externalWrites: ExternalWrite[];
  /** max |W_new − W_old| over the dequantized values. */
  readonly maxAbsChange: number;
}

/** Share of codes that may differ in the self-requantization check (float ties at bin edges). */
const REPRODUCE_TOLERANCE = 1e-3;

function where(model: OnnxModel, t: OnnxTensor): { file?: string; tensor: string; shape: readonly number[] } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor: t.name, shape: t.dims };
}

function assertSoleReader(model: OnnxModel, index: GraphIndex, tensors: readonly (OnnxTensor | undefined)[], module: string): void {
  for (const t of tensors) {
    if (t === undefined) continue;
    const n = index.consumers.get(t.name) ?? 0;
    if (n > 1) throw new OnnxError(`initializer is shared by ${n} nodes; patching it for ${module} would change the others too`, where(model, t));
  }
}

function assertReproduced(model: OnnxModel, t: OnnxTensor, stored: Uint8Array, again: Uint8Array, what: string): void {
  let differ = 0;
  for (let i = 0; i < stored.length; i++) if (stored[i] !== again[i]) differ++;
  if (differ > REPRODUCE_TOLERANCE * stored.length) {
    throw new OnnxError(`cannot reproduce this variant's quantization (${what}): requantizing its own weights changes ${differ} of ${stored.length} bytes`, where(model, t));
  }
}

function collect(writes: readonly TensorWrite[]): { edits: ByteEdit[]; externalWrites: ExternalWrite[] } {
  return { edits: writes.flatMap((w) => w.edits), externalWrites: writes.flatMap((w) => (w.external === undefined ? [] : [w.external])) };
}

function maxChange(before: Float32Array, after: Float32Array): number {
  let m = 0;
  for (let i = 0; i < before.length; i++) m = Math.max(m, Math.abs((after[i] as number) - (before[i] as number)));
  return m;
}

function mergeInt8(model: OnnxModel, q: Int8Linear, factors: LoraFactors, dash: DashTerm | undefined, external?: ExternalDataReader, magnitude?: Float32Array): QuantizedMerge {
  const signed = q.weight.dataType === OnnxDataType.INT8;
  const codes = readTensorBytes(model, q.weight, external);
  const scales = readTensorFloat32(model, q.scale, external);
  const zps = q.zeroPoint === undefined ? new Uint8Array(scales.length) : readTensorBytes(model, q.zeroPoint, external);
  if (zps.length !== scales.length) throw new OnnxError(`zero point has ${zps.length} values but the scale has ${scales.length}`, where(model, q.zeroPoint ?? q.scale));
  if (signed && zps.some((z) => z !== 0)) throw new OnnxError('int8 weights with a non-zero zero point (asymmetric int8) are not reproduced', where(model, q.zeroPoint ?? q.weight));
  const perColumn = scales.length > 1;
  const { inFeatures: inF, outFeatures: outF } = q;
  const base = dequantizeAffine8(codes, scales, zps, outF, signed);
  assertReproduced(model, q.weight, codes, quantizeAffine8(base, inF, outF, perColumn, signed).codes, `8-bit ${signed ? 'symmetric int8' : 'asymmetric uint8'}${perColumn ? ' per column' : ''}`);
  const merged = mergedStoredValues(model, q.weight.name, base, 'in_out', outF, inF, factors, dash, q.module, magnitude).values;
  const re = quantizeAffine8(merged, inF, outF, perColumn, signed);
  if (q.zeroPoint === undefined && re.zeroPoints.some((z) => z !== 0)) {
    throw new OnnxError('the merged weight needs a zero point but the node has no zero point input', where(model, q.weight));
  }
  const writes = [encodeBytesWrite(model, q.weight, re.codes), encodeTensorWrite(model, q.scale, Float64Array.from(re.scales))];
  if (q.zeroPoint !== undefined) writes.push(encodeBytesWrite(model, q.zeroPoint, re.zeroPoints));
  return { ...collect(writes), maxAbsChange: maxChange(base, dequantizeAffine8(re.codes, re.scales, re.zeroPoints, outF, signed)) };
}

function mergeNBits(model: OnnxModel, q: NBitsLinear, factors: LoraFactors, dash: DashTerm | undefined, external?: ExternalDataReader, magnitude?: Float32Array): QuantizedMerge {
  if (q.bits !== 4) throw new OnnxError(`MatMulNBits with bits=${q.bits} is not reproduced (only 4-bit)`, where(model, q.weight));
  if (q.zeroPoints !== undefined) throw new OnnxError('MatMulNBits with zero points (asymmetric 4-bit) is not reproduced; only symmetric blocks are', where(model, q.zeroPoints));
  if (q.blockSize < 16 || (q.blockSize & (q.blockSize - 1)) !== 0) throw new OnnxError(`block_size ${q.blockSize} is not a power of two ≥ 16`, where(model, q.weight));
  const { inFeatures: k, outFeatures: n, blockSize } = q;
  const packed = readTensorBytes(model, q.weight, external);
  const scales = readTensorFloat32(model, q.scales, external);
  const blocks = Math.ceil(k / blockSize);
  if (packed.length !== n * blocks * (blockSize / 2) || scales.length !== n * blocks) {
    throw new OnnxError(
      `B holds ${packed.length} bytes and scales ${scales.length} values; K=${k}, N=${n}, block_size=${blockSize} need ${n * blocks * (blockSize / 2)} and ${n * blocks}`,
      where(model, q.weight),
    );
  }
  const base = dequantizeBlockwise4(packed, scales, n, k, blockSize);
  assertReproduced(model, q.weight, packed, quantizeBlockwise4(base, n, k, blockSize).packed, `4-bit symmetric, block ${blockSize}`);
  const merged = mergedStoredValues(model, q.weight.name, base, 'out_in', n, k, factors, dash, q.module, magnitude).values;
  const re = quantizeBlockwise4(merged, n, k, blockSize);
  const writes = [encodeBytesWrite(model, q.weight, re.packed), encodeTensorWrite(model, q.scales, Float64Array.from(re.scales))];
  return { ...collect(writes), maxAbsChange: maxChange(base, dequantizeBlockwise4(re.packed, re.scales, n, k, blockSize)) };
}

/**
 * Merges one module's update into its quantized weight (see the file comment).
 * Throws {@link OnnxError} naming the tensor for shared initializers, schemes
 * that cannot be reproduced, and storage that cannot be rewritten in place.
 */
export function mergeQuantizedLinear(
  model: OnnxModel,
  index: GraphIndex,
  q: QuantizedLinear,
  factors: LoraFactors,
  dash: DashTerm | undefined,
  external?: ExternalDataReader,
  magnitude?: Float32Array,
): QuantizedMerge {
  if (q.kind === 'int8') {
    assertSoleReader(model, index, [q.weight, q.scale, q.zeroPoint], q.module);
    return mergeInt8(model, q, factors, dash, external, magnitude);
  }
  if (q.kind === 'bnb4') {
    throw new OnnxError(`MatMulBnb4 node ${q.node.name}: requantizing FP4/NF4 codes is not supported; use the side branch (quantized: 'side-branch')`, where(model, q.weight));
  }
  assertSoleReader(model, index, [q.weight, q.scales], q.module);
  return mergeNBits(model, q, factors, dash, external, magnitude);
}
