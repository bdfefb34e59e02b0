/**
 * Reading and rewriting the values of an ONNX initializer (TensorProto),
 * wherever they are stored: `raw_data`, `float_data`, `int32_data` (fp16/bf16
 * bit patterns) or an external data file (data_location = EXTERNAL). Writes
 * become byte edits of the model or writes into the external file; they never
 * re-encode the tensor message as a whole.
 */
import {
  NonFiniteError,
  OnnxError,
  decodeBfloat16,
  decodeFloat16,
  decodeFloat32,
  decodeFloat64,
  encodeBfloat16,
  encodeFloat16,
  encodeFloat32,
  float16BitsToNumber,
  bfloat16BitsToNumber,
} from '@tsd-peft/core';
import { OnnxDataType, dataTypeName, type OnnxModel, type OnnxTensor } from './onnx-model.js';
import { concatBytes, encodePackedVarints, readRepeatedVarints, WireType } from './protobuf-wire.js';
import type { ByteEdit } from './splice.js';

/** Reads bytes of an external data file (`location` is relative to the model's folder). */
export interface ExternalDataReader {
  read(location: string, offset: number, length: number): Uint8Array;
}

/** Where an external tensor's bytes are. */
export interface ExternalLocation {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

/** A write into an external data file. */
export interface ExternalWrite extends ExternalLocation {
  readonly bytes: Uint8Array;
}

/** Float data types whose values we can read as float32. */
const FLOAT_TYPES: ReadonlySet<number> = new Set([OnnxDataType.FLOAT, OnnxDataType.FLOAT16, OnnxDataType.BFLOAT16, OnnxDataType.DOUBLE]);
/** Integer and 8/4-bit types that mark a quantized weight. */
const QUANTIZED_TYPES: ReadonlySet<number> = new Set([
  OnnxDataType.INT8,
  OnnxDataType.UINT8,
  OnnxDataType.INT4,
  OnnxDataType.UINT4,
  OnnxDataType.FLOAT8E4M3FN,
  OnnxDataType.FLOAT8E4M3FNUZ,
  OnnxDataType.FLOAT8E5M2,
  OnnxDataType.FLOAT8E5M2FNUZ,
]);

/** True for the float data types whose values {@link readTensorFloat32} reads. */
export function isFloatType(dataType: number): boolean {
  return FLOAT_TYPES.has(dataType);
}

/** uint8/int8: one byte per element (quantized codes, zero points, packed 4-bit blobs). */
function isByteType(dataType: number): boolean {
  return dataType === OnnxDataType.UINT8 || dataType === OnnxDataType.INT8;
}

/**
 * The stored bytes of a uint8/int8 tensor (quantized weights, zero points),
 * from raw_data or external data. Throws {@link OnnxError} naming the tensor
 * for other types, other storage (int32_data) or a size that disagrees with dims.
 */
export function readTensorBytes(model: OnnxModel, t: OnnxTensor, external?: ExternalDataReader): Uint8Array {
  if (!isByteType(t.dataType)) throw new OnnxError(`expected a uint8/int8 tensor, got ${dataTypeName(t.dataType)}`, loc(model, t));
  // Small tensors (scalar zero points) are often written as int32_data varints, one per element.
  const bytes =
    storedBytes(model, t, external) ??
    Uint8Array.from(
      readRepeatedVarints(
        model.bytes,
        t.int32Data.map((f) => f.field),
        { what: `int32_data of ${t.name}`, ...(model.file === undefined ? {} : { file: model.file }) },
      ),
      (v) => Number(v & 0xffn),
    );
  if (bytes.length !== t.numel) throw new OnnxError(`tensor holds ${bytes.length} bytes, expected ${t.numel}`, loc(model, t));
  return bytes;
}

/** A same-length rewrite of a uint8/int8 tensor's bytes (raw_data edit or external write). */
export function encodeBytesWrite(model: OnnxModel, t: OnnxTensor, bytes: Uint8Array): TensorWrite {
  if (bytes.length !== t.numel || !isByteType(t.dataType)) throw new OnnxError(`got ${bytes.length} bytes for ${t.numel} uint8/int8 elements`, loc(model, t));
  if (t.external) return { edits: [], external: { ...externalLocation(model, t), bytes } };
  const f = t.rawData?.field;
  if (f !== undefined && t.rawData !== undefined) {
    if (f.end - f.valueStart !== bytes.length) throw new OnnxError('uint8/int8 raw_data has an unexpected size', loc(model, t));
    return { edits: [{ start: f.valueStart, end: f.end, bytes, enclosing: t.rawData.enclosing }] };
  }
  return {
    edits: int32DataEdits(
      model,
      t,
      Array.from(bytes, (b) => (t.dataType === OnnxDataType.INT8 ? (b << 24) >> 24 : b)),
    ),
  };
}

/** Replaces every int32_data field by one packed field holding `values` (varint widths may change). */
function int32DataEdits(model: OnnxModel, t: OnnxTensor, values: readonly number[]): ByteEdit[] {
  if (t.int32Data.length === 0) throw new OnnxError('tensor has no data', loc(model, t));
  return t.int32Data.map(({ field, enclosing }, i) => ({
    start: field.start,
    end: field.end,
    bytes: i === 0 ? encodePackedVarints(5, values) : new Uint8Array(0),
    enclosing,
  }));
}

/** Bytes per element of the float types (0 for others). */
export function floatItemSize(dataType: number): number {
  switch (dataType) {
    case OnnxDataType.FLOAT:
      return 4;
    case OnnxDataType.FLOAT16:
    case OnnxDataType.BFLOAT16:
      return 2;
    case OnnxDataType.DOUBLE:
      return 8;
    default:
      return 0;
  }
}

function loc(model: OnnxModel, t: OnnxTensor, shape = true): { file?: string; tensor: string; shape?: readonly number[] } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor: t.name, ...(shape ? { shape: t.dims } : {}) };
}

/**
 * Throws {@link OnnxError} unless `t` holds floating-point values we can read:
 * quantized types get a message saying so, so callers can point users to an
 * fp32 export.
 */
export function assertFloatTensor(model: OnnxModel, t: OnnxTensor): void {
  if (FLOAT_TYPES.has(t.dataType)) return;
  if (QUANTIZED_TYPES.has(t.dataType)) {
    throw new OnnxError(`weight is quantized (${dataTypeName(t.dataType)}); LoRA patching and weight reading need an fp32 or fp16 export`, loc(model, t));
  }
  throw new OnnxError(`weight has unsupported data type ${dataTypeName(t.dataType)}`, loc(model, t));
}

/** The validated external_data entries of an EXTERNAL tensor. Refuses paths that escape the model folder. */
export function externalLocation(model: OnnxModel, t: OnnxTensor): ExternalLocation {
  const where = loc(model, t, false);
  const location = t.externalData.get('location');
  if (location === undefined || location === '') throw new OnnxError('external tensor has no "location" entry', where);
  if (location.startsWith('/') || location.startsWith('\\') || /^[A-Za-z]:/.test(location) || location.split(/[\\/]/).includes('..')) {
    throw new OnnxError(`external data location "${location}" must be a relative path inside the model folder`, where);
  }
  const num = (key: string, fallback: number): number => {
    const s = t.externalData.get(key);
    if (s === undefined) return fallback;
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new OnnxError(`external data "${key}" is not a byte count: "${s}"`, where);
    return Number(s);
  };
  const expected = t.numel * (isByteType(t.dataType) ? 1 : floatItemSize(t.dataType));
  const offset = num('offset', 0);
  const length = num('length', expected);
  if ((FLOAT_TYPES.has(t.dataType) || isByteType(t.dataType)) && length !== expected) {
    throw new OnnxError(`external data length ${length} differs from ${t.numel} elements × ${expected / Math.max(1, t.numel)} bytes`, loc(model, t));
  }
  return { location, offset, length };
}

/** The little-endian bytes of a raw_data or external tensor (a view for raw_data). */
function storedBytes(model: OnnxModel, t: OnnxTensor, external?: ExternalDataReader): Uint8Array | undefined {
  if (t.external) {
    const where = externalLocation(model, t);
    if (external === undefined) {
      throw new OnnxError(`tensor data is in external file "${where.location}" but no external data source was given`, loc(model, t));
    }
    const bytes = external.read(where.location, where.offset, where.length);
    if (bytes.length !== where.length) {
      throw new OnnxError(`external file "${where.location}" ends before offset ${where.offset} + ${where.length}`, loc(model, t));
    }
    return bytes;
  }
  if (t.rawData !== undefined) return model.bytes.subarray(t.rawData.field.valueStart, t.rawData.field.end);
  return undefined;
}

/**
 * The values of a float initializer as a new Float32Array: FLOAT as is,
 * FLOAT16/BFLOAT16 decoded exactly, DOUBLE rounded to float32. Quantized or
 * non-float tensors, and data whose size disagrees with dims, throw
 * {@link OnnxError} naming the tensor.
 */
export function readTensorFloat32(model: OnnxModel, t: OnnxTensor, external?: ExternalDataReader): Float32Array {
  assertFloatTensor(model, t);
  const size = floatItemSize(t.dataType);
  const bytes = storedBytes(model, t, external);
  let out: Float32Array;
  if (bytes !== undefined) {
    if (bytes.length !== t.numel * size) {
      throw new OnnxError(`tensor holds ${bytes.length} bytes, expected ${t.numel} × ${size}`, loc(model, t));
    }
    if (t.dataType === OnnxDataType.FLOAT) out = decodeFloat32(bytes);
    else if (t.dataType === OnnxDataType.FLOAT16) out = decodeFloat16(bytes);
    else if (t.dataType === OnnxDataType.BFLOAT16) out = decodeBfloat16(bytes);
    else out = Float32Array.from(decodeFloat64(bytes));
  } else if (t.dataType === OnnxDataType.FLOAT) {
    out = readFloatData(model, t);
  } else if (t.dataType === OnnxDataType.FLOAT16 || t.dataType === OnnxDataType.BFLOAT16) {
    const bits = readRepeatedVarints(
      model.bytes,
      t.int32Data.map((f) => f.field),
      { what: `int32_data of ${t.name}`, ...(model.file === undefined ? {} : { file: model.file }) },
    );
    const decode = t.dataType === OnnxDataType.FLOAT16 ? float16BitsToNumber : bfloat16BitsToNumber;
    out = Float32Array.from(bits, (b) => decode(Number(b & 0xffffn)));
  } else {
    throw new OnnxError('double tensor stored in double_data is not supported', loc(model, t));
  }
  if (out.length !== t.numel) {
    throw new OnnxError(`tensor holds ${out.length} values, expected ${t.numel}`, loc(model, t));
  }
  return out;
}

function readFloatData(model: OnnxModel, t: OnnxTensor): Float32Array {
  const parts: Uint8Array[] = [];
  for (const { field } of t.floatData) {
    const len = field.end - field.valueStart;
    if (len % 4 !== 0) throw new OnnxError(`float_data field holds ${len} bytes, not a multiple of 4`, loc(model, t));
    parts.push(model.bytes.subarray(field.valueStart, field.end));
  }
  return decodeFloat32(concatBytes(parts));
}

/** How new values get into the file: edits of the model bytes and/or writes into an external file. */
export interface TensorWrite {
  readonly edits: ByteEdit[];
  readonly external?: ExternalWrite;
}

/**
 * Encodes `values` (float64, already merged) in the tensor's own type and
 * storage, keeping the byte length wherever the storage allows:
 * FLOAT → each value rounded once to float32; FLOAT16 → rounded once from
 * float64 to the nearest binary16 (ties to even); BFLOAT16 → float32 first,
 * then ties-to-even bfloat16 (as torch rounds). A value that overflows the type
 * throws {@link OnnxError} naming the tensor (the model would hold ±Inf).
 */
export function encodeTensorWrite(model: OnnxModel, t: OnnxTensor, values: Float64Array): TensorWrite {
  if (values.length !== t.numel) throw new OnnxError(`got ${values.length} values for ${t.numel} elements`, loc(model, t));
  assertFloatTensor(model, t);
  if (t.dataType === OnnxDataType.DOUBLE) throw new OnnxError('patching DOUBLE weights is not supported', loc(model, t));
  const half = t.dataType !== OnnxDataType.FLOAT;
  const encoded = t.dataType === OnnxDataType.FLOAT ? encodeFloat32(Float32Array.from(values)) : t.dataType === OnnxDataType.FLOAT16 ? encodeFloat16(values) : encodeBfloat16(values);
  checkFinite(model, t, encoded, half);
  if (t.external) return { edits: [], external: { ...externalLocation(model, t), bytes: encoded } };
  if (t.rawData !== undefined) {
    const f = t.rawData.field;
    if (f.end - f.valueStart !== encoded.length) {
      throw new OnnxError(`raw_data holds ${f.end - f.valueStart} bytes, expected ${encoded.length}`, loc(model, t));
    }
    return { edits: [{ start: f.valueStart, end: f.end, bytes: encoded, enclosing: t.rawData.enclosing }] };
  }
  if (!half) {
    // float_data: packed Len fields and/or Fixed32 singles; overwrite each field's payload in order.
    const edits: ByteEdit[] = [];
    let at = 0;
    for (const { field, enclosing } of t.floatData) {
      const n = field.end - field.valueStart;
      if (at + n > encoded.length) throw new OnnxError('float_data holds more values than dims', loc(model, t));
      edits.push({ start: field.valueStart, end: field.end, bytes: encoded.subarray(at, at + n), enclosing });
      at += n;
    }
    if (at !== encoded.length) throw new OnnxError('float_data holds fewer values than dims', loc(model, t));
    return { edits };
  }
  // fp16/bf16 bit patterns in int32_data: varint widths change, so replace the first field by one packed field and drop the rest.
  const first = t.int32Data[0];
  if (first === undefined) throw new OnnxError('tensor has no data', loc(model, t));
  if (first.field.wire !== WireType.Len && first.field.wire !== WireType.Varint) throw new OnnxError('int32_data has a bad wire type', loc(model, t));
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  return {
    edits: int32DataEdits(
      model,
      t,
      Array.from({ length: t.numel }, (_, i) => view.getUint16(i * 2, true)),
    ),
  };
}

function checkFinite(model: OnnxModel, t: OnnxTensor, encoded: Uint8Array, half: boolean): void {
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const n = t.numel;
  for (let i = 0; i < n; i++) {
    let finite: boolean;
    if (!half) finite = Number.isFinite(view.getFloat32(i * 4, true));
    else {
      const b = view.getUint16(i * 2, true);
      finite = t.dataType === OnnxDataType.FLOAT16 ? (b & 0x7c00) !== 0x7c00 : (b & 0x7f80) !== 0x7f80;
    }
    if (!finite) {
      throw new NonFiniteError(`merged value at flat index ${i} is not finite in ${dataTypeName(t.dataType)} (overflow or NaN in the update)`, loc(model, t));
    }
  }
}

/** The external data files (relative to the model's folder) that a model's initializers reference. */
export function externalDataFiles(model: OnnxModel): string[] {
  const files = new Set<string>();
  for (const t of model.initializers.values()) if (t.external) files.add(externalLocation(model, t).location);
  return [...files];
}
