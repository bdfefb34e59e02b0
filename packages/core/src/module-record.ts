/**
 * Per-module state as a variant writes it: named tensors (float32 or float64,
 * with shapes) and a small JSON object, under a method name. Variants build
 * and read these records (framework-free typed arrays); ONE encoder here
 * turns a set of them into tensor entries plus JSON, used by both the native
 * adapter format and the trainer's checkpoints, so every method, built-in or
 * registered from outside, persists whatever state it keeps the same way in
 * both.
 */
import { ConfigError, SafetensorsError, ShapeError } from './errors.js';
import { decodeFloat64, encodeFloat64 } from './dtype.js';
import type { Matrix } from './matrix.js';
import { nativeKey } from './module-names.js';
import type { JsonObject, JsonValue } from './python-json.js';
import { float32Tensor, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

/** One tensor of module state: a Float32Array is stored as F32, a Float64Array as F64. */
export interface StateTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** What a variant keeps for one module: named tensors and JSON (indices, flags, scalars). */
export interface StateRecord {
  /** Tensors by name, e.g. `lora_A.weight`; stored as `base_model.model.<module>.<name>`. */
  readonly tensors: Readonly<Record<string, StateTensor>>;
  readonly meta: JsonObject;
}

/** A {@link StateRecord} with the method that wrote it (and must read it). */
export interface ModuleRecord extends StateRecord {
  readonly method: string;
}

/** Module records as tensor entries (named by {@link nativeKey}) and the JSON that lists them. */
export interface EncodedRecords {
  readonly tensors: Map<string, StateTensor>;
  /** Per module: `{ method, tensors: [names], meta }`. */
  readonly modules: JsonObject;
}

/** An empty record part. */
export const EMPTY_RECORD: StateRecord = Object.freeze({ tensors: Object.freeze({}), meta: Object.freeze({}) });

/**
 * Encodes module records: every tensor under `base_model.model.<module>.<name>`
 * and per module its method, tensor names and meta. Throws {@link ShapeError}
 * naming the tensor when its data does not fill its shape.
 */
export function encodeModuleRecords(records: ReadonlyMap<string, ModuleRecord>): EncodedRecords {
  const tensors = new Map<string, StateTensor>();
  const modules: JsonObject = {};
  for (const [module, record] of records) {
    const names = Object.keys(record.tensors);
    for (const name of names) {
      const t = record.tensors[name] as StateTensor;
      const key = nativeKey(module, name);
      checkFills(t, key);
      tensors.set(key, t);
    }
    Object.defineProperty(modules, module, { value: { method: record.method, tensors: names, meta: record.meta }, enumerable: true });
  }
  return { tensors, modules };
}

/**
 * Reads {@link encodeModuleRecords} output back. `field` names the JSON
 * (e.g. `tsd_peft.modules`) in errors. Throws {@link SafetensorsError} naming
 * `file` and the field or tensor for a malformed entry, a listed tensor that
 * is missing, or a tensor that no module lists.
 */
export function decodeModuleRecords(modules: unknown, tensors: ReadonlyMap<string, StateTensor>, field: string, file?: string): Map<string, ModuleRecord> {
  return readModuleEntries(modules, tensors.keys(), field, file, (module, entry, where, use) => {
    if (typeof entry.method !== 'string' || !isJsonObject(entry.meta)) {
      throw new SafetensorsError('module record needs a string method and a meta object', { file, field: where });
    }
    const names = entry.tensors;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new SafetensorsError('module record needs a list of tensor names', { file, field: `${where}.tensors` });
    }
    const own: Record<string, StateTensor> = {};
    for (const name of names as string[]) {
      const key = nativeKey(module, name);
      const t = tensors.get(key);
      if (t === undefined) throw new SafetensorsError('tensor is missing', { file, tensor: key });
      use(key);
      Object.defineProperty(own, name, { value: t, enumerable: true });
    }
    return { method: entry.method, tensors: own, meta: entry.meta };
  });
}

/**
 * Reads the per-module entries of a file's JSON (`modules`, at `field`), each
 * through `read`, which reports the tensors it takes with `use`; refuses an
 * entry that is not an object and any of `keys` that no module took
 * ({@link SafetensorsError} naming `file` and the field or tensor).
 */
export function readModuleEntries(
  modules: unknown,
  keys: Iterable<string>,
  field: string,
  file: string | undefined,
  read: (module: string, entry: JsonObject, where: string, use: (key: string) => void) => ModuleRecord,
): Map<string, ModuleRecord> {
  if (!isJsonObject(modules)) throw new SafetensorsError('modules is not a JSON object', { file, field });
  const used = new Set<string>();
  const out = new Map<string, ModuleRecord>();
  for (const [module, entry] of Object.entries(modules)) {
    const where = `${field}.${module}`;
    if (!isJsonObject(entry)) throw new SafetensorsError('module entry is not a JSON object', { file, field: where });
    out.set(
      module,
      read(module, entry, where, (key) => used.add(key)),
    );
  }
  for (const key of keys) {
    if (!used.has(key)) throw new SafetensorsError('tensor belongs to no module listed in the metadata', { file, tensor: key });
  }
  return out;
}

/** A state tensor as a safetensors entry (F32 or F64, little-endian). */
export function stateToSafetensors(t: StateTensor, name: string): SafetensorsTensor {
  if (t.data instanceof Float32Array) return float32Tensor(t.shape, t.data, name);
  checkFills(t, name);
  return { dtype: 'F64', shape: [...t.shape], data: encodeFloat64(t.data) };
}

/** A safetensors entry as a state tensor; other dtypes than F32 and F64 are refused with a {@link SafetensorsError}. */
export function stateFromSafetensors(t: SafetensorsTensor, name: string, file?: string): StateTensor {
  if (t.dtype === 'F64') return { shape: [...t.shape], data: decodeFloat64(t.data) };
  if (t.dtype !== 'F32') throw new SafetensorsError(`module state is stored as F32 or F64, found ${t.dtype}`, { file, tensor: name, shape: t.shape });
  return { shape: [...t.shape], data: tensorToFloat32(t, name) };
}

/**
 * One record from parts (e.g. LoRA factors + a dash term + a variant's own
 * tensors): tensors and top-level meta keys united. Throws {@link ConfigError}
 * when two parts use the same name.
 */
export function combineRecords(...parts: readonly StateRecord[]): StateRecord {
  const tensors: Record<string, StateTensor> = {};
  const meta: JsonObject = {};
  for (const part of parts) {
    for (const [target, source, what] of [
      [tensors, part.tensors, 'tensor'],
      [meta, part.meta, 'meta field'],
    ] as const) {
      for (const [name, value] of Object.entries(source)) {
        if (Object.hasOwn(target, name)) throw new ConfigError(`two parts of a module record hold the ${what} '${name}'`, { field: name });
        Object.defineProperty(target, name, { value: value as StateTensor & JsonValue, enumerable: true, writable: true });
      }
    }
  }
  return { tensors, meta };
}

/** A float32 matrix as a state tensor [rows, cols] (shares the data). */
export function matrixTensor(m: Matrix<Float32Array>): StateTensor {
  return { shape: [m.rows, m.cols], data: m.data };
}

/** A vector as a 1-D state tensor (shares the data). */
export function vectorTensor(v: Float32Array | Float64Array): StateTensor {
  return { shape: [v.length], data: v };
}

/** Where a record's tensor is reported in errors: the module and, when known, the file. */
export interface RecordLocation {
  readonly module: string;
  readonly file?: string;
}

/**
 * A float32 matrix of a record, or undefined when absent and not `required`.
 * Throws {@link SafetensorsError} when it is missing or F64 and
 * {@link ShapeError} when it is not 2-D or not `[rows, cols]` where given.
 */
export function recordMatrix(record: StateRecord, name: string, at: RecordLocation, expect: { rows?: number; cols?: number } = {}, required = true): Matrix<Float32Array> | undefined {
  const t = recordTensor(record, name, at, Float32Array, required);
  if (t === undefined) return undefined;
  const [rows, cols] = t.shape;
  if (t.shape.length !== 2 || rows === undefined || cols === undefined || (expect.rows !== undefined && rows !== expect.rows) || (expect.cols !== undefined && cols !== expect.cols)) {
    throw new ShapeError(`expected a 2-D tensor [${expect.rows ?? 'rows'}, ${expect.cols ?? 'cols'}]`, { file: at.file, tensor: nativeKey(at.module, name), shape: [...t.shape] });
  }
  return { rows, cols, data: t.data };
}

/**
 * A vector of a record in the given element type (`Float32Array` for F32,
 * `Float64Array` for F64), or undefined when absent and not `required`.
 * Throws as {@link recordMatrix}; `length`, when given, must match.
 */
export function recordVector<D extends Float32Array | Float64Array>(
  record: StateRecord,
  name: string,
  at: RecordLocation,
  type: { new (n: number): D; readonly name: string },
  length?: number,
  required = true,
): D | undefined {
  const t = recordTensor(record, name, at, type, required);
  if (t === undefined) return undefined;
  if (t.shape.length !== 1 || (length !== undefined && t.data.length !== length)) {
    throw new ShapeError(`expected a 1-D tensor${length === undefined ? '' : ` of ${length} values`}`, { file: at.file, tensor: nativeKey(at.module, name), shape: [...t.shape] });
  }
  return t.data;
}

function recordTensor<D extends Float32Array | Float64Array>(
  record: StateRecord,
  name: string,
  at: RecordLocation,
  type: { new (n: number): D; readonly name: string },
  required: boolean,
): { shape: readonly number[]; data: D } | undefined {
  const key = nativeKey(at.module, name);
  const t = Object.hasOwn(record.tensors, name) ? record.tensors[name] : undefined;
  if (t === undefined) {
    if (required) throw new SafetensorsError('module state tensor is missing', { file: at.file, tensor: key });
    return undefined;
  }
  if (!(t.data instanceof type)) {
    const want = type.name === 'Float64Array' ? 'F64' : 'F32';
    throw new SafetensorsError(`this module state is stored as ${want}, found ${t.data instanceof Float64Array ? 'F64' : 'F32'}`, { file: at.file, tensor: key });
  }
  checkFills(t, key, at.file);
  return { shape: t.shape, data: t.data as D };
}

function checkFills(t: StateTensor, key: string, file?: string): void {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || numel !== t.data.length) {
    throw new ShapeError(`${t.data.length} values do not fill shape [${t.shape.join(', ')}]`, { file, tensor: key, shape: [...t.shape] });
  }
}

/** A plain JSON object (not an array or null). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
