/**
 * tsd-peft's native adapter format: everything needed to resume training of
 * any method, losslessly, in one safetensors file. Each adapted module is a
 * {@link ModuleRecord} its variant wrote (`module-record.ts`): its tensors
 * are stored as `base_model.model.<module>.<name>` (F32 or F64), so the LoRA
 * factors of the built-in methods (`lora_A.weight`, `lora_B.weight`; see
 * `lora-record.ts`) read like a PEFT adapter, and DoRA's magnitude keeps
 * PEFT's name `lora_magnitude_vector`.
 *
 * The `__metadata__` key `tsd_peft` holds JSON: `format_version` (4), per
 * module `{ method, tensors: [names], meta }`, and `base_model` / `extra`.
 * Files of formats 1–3 (a fixed LoRA-family layout) are read and converted to
 * records (`native-adapter-legacy.ts`); the trainer's checkpoints store
 * their model state with the same encoder.
 */
import { SafetensorsError } from './errors.js';
import { decodeModuleRecords, encodeModuleRecords, isJsonObject, stateFromSafetensors, stateToSafetensors, type ModuleRecord, type StateTensor } from './module-record.js';
import { parseLegacyNativeModules } from './native-adapter-legacy.js';
import type { JsonObject } from './python-json.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';

/**
 * Version written into `tsd_peft.format_version`; readers refuse newer
 * versions. 4: per-module records owned by the variants (any tensors, any
 * meta). 1–3, still read: the fixed LoRA / LoRA-Dash / LoRA-Init layout, 2
 * adding the F64 spectra and `init.selected`, 3 DoRA's magnitude.
 */
export const NATIVE_FORMAT_VERSION = 4;
/** The `__metadata__` key that holds the native JSON. */
export const NATIVE_METADATA_KEY = 'tsd_peft';

/** A native adapter: one record per adapted module, plus free-form JSON the trainer keeps. */
export interface NativeAdapter {
  modules: Map<string, ModuleRecord>;
  /** Base model id or path the adapter was trained on. */
  baseModel?: string;
  /** Extra JSON (e.g. step, RNG state, hyperparameters), kept verbatim. */
  extra?: JsonObject;
}

/** Serialises a native adapter to safetensors bytes (format 4). Throws {@link ShapeError} for a tensor its data does not fill. */
export function serializeNativeAdapter(adapter: NativeAdapter): Uint8Array {
  const { tensors, modules } = encodeModuleRecords(adapter.modules);
  const entries = new Map<string, SafetensorsTensor>();
  for (const [key, t] of tensors) entries.set(key, stateToSafetensors(t, key));
  const json: JsonObject = { format_version: NATIVE_FORMAT_VERSION, modules };
  if (adapter.baseModel !== undefined) json.base_model = adapter.baseModel;
  if (adapter.extra !== undefined) json.extra = adapter.extra;
  return serializeSafetensors(entries, { [NATIVE_METADATA_KEY]: JSON.stringify(json) });
}

/**
 * Parses a native adapter file of format 1 to 4. Throws
 * {@link SafetensorsError} naming `file` and the tensor or field for a
 * missing or malformed `tsd_peft` entry, a newer `format_version`, missing
 * or stray tensors, or a dtype other than F32 / F64 (and, for formats 1–3,
 * {@link ShapeError} for inconsistent shapes). The variants check a record's
 * content when a model loads it.
 */
export function parseNativeAdapter(bytes: Uint8Array, file?: string): NativeAdapter {
  const st = parseSafetensors(bytes, file);
  const raw = st.metadata?.[NATIVE_METADATA_KEY];
  const fail = (msg: string, field = NATIVE_METADATA_KEY): never => {
    throw new SafetensorsError(msg, { file, field });
  };
  if (raw === undefined) return fail(`no "${NATIVE_METADATA_KEY}" metadata: not a tsd-peft native adapter`, '__metadata__');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    fail('metadata is not valid JSON');
  }
  if (!isJsonObject(json)) return fail('metadata is not a JSON object');
  const version = json.format_version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) return fail('format_version is missing or invalid', `${NATIVE_METADATA_KEY}.format_version`);
  if (version > NATIVE_FORMAT_VERSION) fail(`format_version ${String(version)} is newer than this reader (${NATIVE_FORMAT_VERSION})`, `${NATIVE_METADATA_KEY}.format_version`);
  const field = `${NATIVE_METADATA_KEY}.modules`;
  let modules: Map<string, ModuleRecord>;
  if (version < 4) {
    modules = parseLegacyNativeModules(json.modules, st.tensors, field, file);
  } else {
    const tensors = new Map<string, StateTensor>();
    for (const [key, t] of st.tensors) tensors.set(key, stateFromSafetensors(t, key, file));
    modules = decodeModuleRecords(json.modules, tensors, field, file);
  }
  const out: NativeAdapter = { modules };
  if (typeof json.base_model === 'string') out.baseModel = json.base_model;
  if (isJsonObject(json.extra)) out.extra = json.extra;
  return out;
}
