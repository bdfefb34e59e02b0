/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
 * 8 bytes of little-endian header length N, N bytes of JSON header, then the
 * tensor data. Pure (bytes in, bytes out), so it works in browsers too.
 *
 * The writer reproduces the Python/Rust library's layout exactly — tensors
 * ordered by descending dtype alignment then name, compact JSON with
 * `__metadata__` first, the header padded with spaces to a multiple of 8 —
 * so a file read and written back is byte-identical.
 */
import { SafetensorsError, ShapeError } from './errors.js';
import { decodeBfloat16, decodeFloat16, decodeFloat32, decodeFloat64, dtypeByteSize, dtypeOrder, encodeFloat32, isSafetensorsDtype, type SafetensorsDtype } from './dtype.js';
import { compareCodePoints, parseJsonDocument, setOwn, type JsonObject, type JsonValue } from './python-json.js';

/** Headers larger than this are refused, as the reference library does (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a safetensors file. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Little-endian element bytes. From {@link parseSafetensors}: a view into the file, no copy. */
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** The `__metadata__` string map, or undefined when the header has none. */
  metadata: Record<string, string> | undefined;
  /** Tensors by name, in header order. */
  tensors: Map<string, SafetensorsTensor>;
  /** Tensor names in the order the header lists them. */
  headerKeyOrder: string[];
  /** `__metadata__` keys in header order (objects reorder integer-like keys). */
  metadataKeyOrder: string[];
}

/** Options of {@link serializeSafetensors}. */
export interface SerializeSafetensorsOptions {
  /** Order of the `__metadata__` keys; default: the object's key order. */
  metadataKeyOrder?: readonly string[];
}

/**
 * Parses and validates a safetensors file held in memory. Every tensor's
 * `data` is a view into `bytes`. Throws {@link SafetensorsError} naming
 * `file` (and the tensor) for any malformed input: bad header length, bad
 * UTF-8 or JSON, unknown dtype, bad shape, offsets out of range, overlapping
 * or leaving holes, size not matching shape × dtype.
 */
export function parseSafetensors(bytes: Uint8Array, file?: string): SafetensorsFile {
  // forged names can be megabytes long: cap what goes into messages
  const at = (tensor?: string) => (tensor === undefined ? { file } : { file, tensor: tensor.length > 200 ? `${tensor.slice(0, 200)}…` : tensor });
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`, at());
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo; // exact: below 2^53 whenever hi < 2^21, and larger values are refused anyway
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`, at());
  }
  if (8 + headerLength > bytes.byteLength) {
    throw new SafetensorsError(`header length ${headerLength} runs past the end of the ${bytes.byteLength}-byte file`, at());
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch (cause) {
    throw new SafetensorsError('header is not valid UTF-8', at(), { cause });
  }
  if (!text.startsWith('{')) throw new SafetensorsError("header does not start with '{'", at());
  let root: JsonValue;
  let keyOrder: WeakMap<JsonObject, string[]>;
  try {
    ({ value: root, keyOrder } = parseJsonDocument(text));
  } catch (cause) {
    throw new SafetensorsError(`header is not valid JSON: ${(cause as Error).message}`, at(), { cause });
  }
  if (!isObject(root)) throw new SafetensorsError('header is not a JSON object', at());

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  let metadata: Record<string, string> | undefined;
  let metadataKeyOrder: string[] = [];
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  const headerKeyOrder: string[] = [];
  for (const name of keyOrder.get(root) ?? []) {
    const info = root[name] as JsonValue;
    if (name === '__metadata__') {
      if (info === null) continue; // serde reads null as "no metadata"
      if (!isObject(info)) throw new SafetensorsError('__metadata__ is not an object', at(name));
      metadata = {};
      metadataKeyOrder = keyOrder.get(info) ?? [];
      for (const key of metadataKeyOrder) {
        const v = info[key];
        if (typeof v !== 'string') {
          throw new SafetensorsError(`__metadata__ value of ${JSON.stringify(key)} is not a string`, at(name));
        }
        setOwn(metadata, key, v);
      }
      continue;
    }
    if (!isObject(info)) throw new SafetensorsError('header entry is not an object', at(name));
    const { dtype, shape, data_offsets: offsets } = info;
    if (!isSafetensorsDtype(dtype)) {
      throw new SafetensorsError(`unknown or unsupported dtype ${brief(dtype)}`, at(name));
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new SafetensorsError(`shape ${brief(shape)} is not a list of non-negative integers`, at(name));
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new SafetensorsError(`data_offsets ${brief(offsets)} is not a pair of non-negative integers`, at(name));
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      throw new SafetensorsError(`data_offsets [${begin}, ${end}] out of range for a ${dataLength}-byte data region`, at(name));
    }
    const size = end - begin;
    // numel·itemsize without overflow: stop as soon as it exceeds the (safe-integer) byte count
    const dims = shape as number[];
    let bytesNeeded = dims.includes(0) ? 0 : dtypeByteSize(dtype);
    let exact = true;
    for (const d of dims) {
      if (bytesNeeded > size) {
        exact = false;
        break;
      }
      bytesNeeded *= d;
    }
    if (bytesNeeded !== size) {
      const needs = exact && Number.isSafeInteger(bytesNeeded) ? String(bytesNeeded) : `more than ${size}`;
      // forged headers can hold huge shapes: keep the message short
      const shown = dims.length <= 16 ? dims : undefined;
      const text = shown === undefined ? `[${dims.slice(0, 8).join(', ')}, … (${dims.length} dims)]` : `[${dims.join(', ')}]`;
      throw new SafetensorsError(`data_offsets span ${size} bytes but shape ${text} of ${dtype} needs ${needs}`, {
        ...at(name),
        ...(shown === undefined ? {} : { shape: shown }),
      });
    }
    entries.push({ name, dtype, shape: dims, begin, end });
    headerKeyOrder.push(name);
  }

  // The data region must be covered exactly once: sorted by offsets, each tensor starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin < cursor) {
      throw new SafetensorsError(`data_offsets [${e.begin}, ${e.end}] overlap the previous tensor ending at ${cursor}`, at(e.name));
    }
    if (e.begin > cursor) {
      throw new SafetensorsError(`hole in the data region: bytes [${cursor}, ${e.begin}) belong to no tensor`, at(e.name));
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(`hole in the data region: bytes [${cursor}, ${dataLength}) belong to no tensor`, at());
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return { metadata, tensors, headerKeyOrder, metadataKeyOrder };
}

/**
 * Serialises tensors (and optional `__metadata__`) exactly as the Python
 * `safetensors` library does: tensors sorted by descending dtype alignment,
 * then by name (UTF-8 byte order); compact JSON header with `__metadata__`
 * first; header padded with spaces to a multiple of 8 bytes.
 * Throws {@link SafetensorsError} when a tensor's byte size does not match its shape.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, SafetensorsTensor> | Readonly<Record<string, SafetensorsTensor>>,
  metadata?: Readonly<Record<string, string>>,
  options: SerializeSafetensorsOptions = {},
): Uint8Array {
  const list: [string, SafetensorsTensor][] = isReadonlyMap(tensors) ? [...tensors.entries()] : Object.keys(tensors).map((k) => [k, tensors[k] as SafetensorsTensor]);
  list.sort(([an, a], [bn, b]) => dtypeOrder(b.dtype) - dtypeOrder(a.dtype) || compareCodePoints(an, bn));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = options.metadataKeyOrder ?? Object.keys(metadata);
    const own = Object.keys(metadata);
    if (keys.length !== own.length || !own.every((k) => keys.includes(k))) {
      throw new SafetensorsError('metadataKeyOrder does not list exactly the metadata keys', { tensor: '__metadata__' });
    }
    const items = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new SafetensorsError(`metadata value of ${JSON.stringify(k)} is not a string`, { tensor: '__metadata__' });
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${items.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor', { tensor: name });
    if (!isSafetensorsDtype(t.dtype)) throw new SafetensorsError(`unknown dtype ${String(t.dtype)}`, { tensor: name });
    if (!t.shape.every(isCount)) throw new SafetensorsError('shape holds a non-integer or negative dimension', { tensor: name, shape: t.shape });
    const expected = t.shape.reduce((a, b) => a * b, 1) * dtypeByteSize(t.dtype);
    if (expected !== t.data.byteLength) {
      throw new SafetensorsError(`data holds ${t.data.byteLength} bytes, shape × ${t.dtype} needs ${expected}`, {
        tensor: name,
        shape: t.shape,
      });
    }
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.data.byteLength}]}`);
    offset += t.data.byteLength;
  }
  // serde_json escapes exactly what JSON.stringify escapes (quote, backslash, C0 controls) and no more.
  const header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(header.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.byteLength, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of list) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Reads a tensor as float32: F32 is copied, F16/BF16 widened exactly, F64
 * rounded to nearest. Integer and boolean dtypes are refused with a
 * {@link SafetensorsError} naming `name`.
 */
export function tensorToFloat32(t: SafetensorsTensor, name?: string): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return decodeFloat32(t.data);
    case 'F16':
      return decodeFloat16(t.data);
    case 'BF16':
      return decodeBfloat16(t.data);
    case 'F64':
      return Float32Array.from(decodeFloat64(t.data));
    default:
      throw new SafetensorsError(`cannot read a ${t.dtype} tensor as float32`, { tensor: name, shape: t.shape });
  }
}

/**
 * A float32 tensor of `shape` over a little-endian copy of `data`. Throws
 * {@link ShapeError} when the element count does not match the shape.
 */
export function float32Tensor(shape: readonly number[], data: Float32Array, name = 'tensor'): SafetensorsTensor {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (!shape.every(isCount) || numel !== data.length) {
    throw new ShapeError(`${data.length} elements do not fill shape [${shape.join(', ')}]`, { tensor: name, shape });
  }
  return { dtype: 'F32', shape: [...shape], data: encodeFloat32(data) };
}

/** A short rendering of a header value for error messages (forged values can be huge or missing). */
function brief(v: JsonValue | undefined): string {
  return v === undefined ? 'missing' : JSON.stringify(v).slice(0, 80);
}

function isReadonlyMap<V>(m: ReadonlyMap<string, V> | Readonly<Record<string, V>>): m is ReadonlyMap<string, V> {
  return m instanceof Map;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
