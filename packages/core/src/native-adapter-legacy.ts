/**
 * Reader of native adapter formats 1–3, whose layout was fixed rather than
 * owned by the variants: per module the method, LoRA factors and scaling,
 * LoRA-Dash's launch state, the init residual, the F64 spectra (format 2)
 * and DoRA's magnitude (format 3), all F32 but the spectra. Their tensor
 * names and per-module meta are exactly the records the built-in variants
 * write now (`lora-record.ts`), so a module converts by taking its tensors
 * and meta as they are; the content is checked as those files always were.
 */
import { SafetensorsError, ShapeError } from './errors.js';
import { readLoraRecord } from './lora-record.js';
import { isJsonObject, readModuleEntries, type ModuleRecord, type StateTensor } from './module-record.js';
import { nativeKey } from './module-names.js';
import type { JsonObject } from './python-json.js';
import { decodeFloat64 } from './dtype.js';
import { tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

const FACTORS = ['lora_A.weight', 'lora_B.weight'];
const MAGNITUDE = 'lora_magnitude_vector';
const PARTS = {
  dash: { f32: ['dash_U', 'dash_Vt', 'dash_d'], f64: ['dash_change_rates', 'dash_sigma'] },
  init: { f32: ['init_A0', 'init_B0'], f64: ['init_change_rates', 'init_sigma'] },
} as const;

/** The modules of a format 1–3 file as records; throws as `parseNativeAdapter` documents. */
export function parseLegacyNativeModules(modules: unknown, all: ReadonlyMap<string, SafetensorsTensor>, field: string, file?: string): Map<string, ModuleRecord> {
  return readModuleEntries(modules, all.keys(), field, file, (module, m, where, use) => {
    if (typeof m.method !== 'string' || typeof m.scaling !== 'number') {
      throw new SafetensorsError('module entry needs a string method and a numeric scaling', { file, field: where });
    }
    const tensors: Record<string, StateTensor> = {};
    const take = (name: string, dtype: 'F32' | 'F64') => {
      const key = nativeKey(module, name);
      const t = all.get(key);
      if (t === undefined) return;
      if (t.dtype !== dtype) throw new SafetensorsError(dtype === 'F64' ? `spectra are stored as F64, found ${t.dtype}` : `native adapters store F32, found ${t.dtype}`, { file, tensor: key });
      use(key);
      tensors[name] = { shape: [...t.shape], data: dtype === 'F64' ? decodeFloat64(t.data) : tensorToFloat32(t, key) };
    };
    for (const name of [...FACTORS, MAGNITUDE]) take(name, 'F32');
    const meta: JsonObject = { scaling: m.scaling };
    for (const part of ['dash', 'init'] as const) {
      const value = m[part];
      if (value === undefined) continue;
      meta[part] = value;
      if (part === 'dash' && isJsonObject(value) && value.launched !== true) continue;
      for (const name of PARTS[part].f32) take(name, 'F32');
      for (const name of PARTS[part].f64) take(name, 'F64');
    }
    const record: ModuleRecord = { method: m.method, tensors, meta };
    const { factors } = readLoraRecord(record, { module, file });
    const magnitude = tensors[MAGNITUDE];
    if (magnitude !== undefined && (magnitude.shape.length !== 1 || magnitude.data.length !== factors.B.rows)) {
      throw new ShapeError(`magnitude holds ${magnitude.data.length} values for ${factors.B.rows} output rows`, { file, tensor: nativeKey(module, MAGNITUDE), shape: [...magnitude.shape] });
    }
    return record;
  });
}
