/**
 * tsd-peft's native adapter format: everything needed to resume LoRA /
 * LoRA-Dash / LoRA-Init / LoRA-TSD training, losslessly, in one safetensors
 * file. Tensors (all F32) use the PEFT naming, so the plain-LoRA part reads
 * like a PEFT adapter:
 *
 * - `base_model.model.<module>.lora_A.weight` [r, in], `.lora_B.weight` [out, r];
 * - LoRA-Dash (Si et al., §4.2): `.dash_U` [out, s] and `.dash_Vt` [s, in], the
 *   selected singular directions, and `.dash_d` [s], their learned coefficients,
 *   so the dash term is U_s · diag(d) · V_sᵀ;
 * - DoRA (Liu et al. 2024, since format 3): `.lora_magnitude_vector` [out], the
 *   magnitude m, under PEFT's own name;
 * - initialisation residual (LoRA-Init, §4.1): `.init_A0` [r, in] and `.init_B0`
 *   [out, r], from which the frozen residual W' = W − init.scaling · B0·A0 is rebuilt;
 * - since format 2, optionally, the spectrum each selection was made from, F64
 *   with one entry per singular direction of W: `.dash_change_rates` /
 *   `.init_change_rates` (δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ, eq. (3) of Si et al., which
 *   can be +Infinity where σᵢ = 0) and `.dash_sigma` / `.init_sigma` (σᵢ).
 *   They cannot be recomputed after the fact (ΔW at selection time is gone).
 *
 * The `__metadata__` key `tsd_peft` holds JSON with `format_version` and, per
 * module, the method name, scaling, dash selection and launch flag, and (format
 * 2) the initial direction indices. Version 1 files (no spectra, no initial
 * indices) are still read. A file is written as version 3 only when it holds a
 * DoRA magnitude, so every other file stays byte-identical to what version 2 wrote.
 */
import { SafetensorsError, ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import { nativeKey, peftKey, peftMagnitudeKey } from './module-names.js';
import type { JsonObject } from './python-json.js';
import { decodeFloat64, encodeFloat64 } from './dtype.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

/**
 * Version written into `tsd_peft.format_version`; readers refuse newer versions.
 * 2 added the F64 spectra and `init.selected`; a version-1 reader would refuse
 * those tensors as strays, hence the bump. Version 1 files are still read.
 */
export const NATIVE_FORMAT_VERSION = 3;
/** The `__metadata__` key that holds the native JSON. */
export const NATIVE_METADATA_KEY = 'tsd_peft';

/** LoRA-Dash state of one module: nothing before launch, the selected directions and d after. */
export type DashState =
  | { launched: false }
  | {
      launched: true;
      /** Left singular vectors of the selected directions, [out, s]. */
      U: Matrix<Float32Array>;
      /** Right singular vectors, transposed, [s, in]. */
      Vt: Matrix<Float32Array>;
      /** Dash coefficients, [s]. */
      d: Float32Array;
      /** Indices of the selected directions into the descending singular values. */
      selected: number[];
      /** Change rates of every direction at launch (eq. (3) of Si et al.); absent in version-1 files. */
      changeRates?: Float64Array;
      /** Singular values of the original W, descending, one per direction; absent in version-1 files. */
      sigma?: Float64Array;
    };

/** The LoRA factors at initialisation, for rebuilding the residual W' = W − scaling · B0·A0. */
export interface InitResidual {
  A0: Matrix<Float32Array>;
  B0: Matrix<Float32Array>;
  scaling: number;
  /** Singular-direction indices of W that B0·A0 is built from, in column order of B0 (PiSSA, MiLoRA, LoRA-Init). */
  selected?: Int32Array;
  /** LoRA-Init: change rates of every direction under the ΔW estimate the selection came from. */
  changeRates?: Float64Array;
  /** Singular values of the original W, descending, one per direction. */
  sigma?: Float64Array;
}

/** Everything tsd-peft keeps per adapted module. */
export interface NativeModuleState {
  /** Method name, e.g. `'lora'`, `'lora-dash'`, `'lora-init'`, `'lora-tsd'`. */
  method: string;
  factors: LoraFactors;
  dash?: DashState;
  init?: InitResidual;
  /** DoRA's magnitude m [out] (format 3). */
  magnitude?: Float32Array;
}

/** A native adapter: per-module state plus free-form JSON the trainer keeps. */
export interface NativeAdapter {
  modules: Map<string, NativeModuleState>;
  /** Base model id or path the adapter was trained on. */
  baseModel?: string;
  /** Extra JSON (e.g. step, RNG state, hyperparameters), kept verbatim. */
  extra?: JsonObject;
}

interface ModuleMeta {
  method: string;
  scaling: number;
  dash?: { launched: boolean; selected?: number[] };
  init?: { scaling: number; selected?: number[] };
}

/** Serialises a native adapter to safetensors bytes. Validates shapes first (throws {@link ShapeError}). */
export function serializeNativeAdapter(adapter: NativeAdapter): Uint8Array {
  const tensors = new Map<string, SafetensorsTensor>();
  const modules: Record<string, ModuleMeta> = {};
  const put = (name: string, shape: number[], data: Float32Array) => tensors.set(name, float32Tensor(shape, data, name));
  const put64 = (name: string, data: Float64Array | undefined) => {
    if (data !== undefined) tensors.set(name, { dtype: 'F64', shape: [data.length], data: encodeFloat64(data) });
  };
  for (const [module, state] of adapter.modules) {
    checkModule(module, state);
    const { A, B, scaling } = state.factors;
    put(peftKey(module, 'lora_A'), [A.rows, A.cols], A.data);
    put(peftKey(module, 'lora_B'), [B.rows, B.cols], B.data);
    const meta: ModuleMeta = { method: state.method, scaling };
    if (state.magnitude !== undefined) put(peftMagnitudeKey(module), [state.magnitude.length], state.magnitude);
    if (state.dash !== undefined) {
      if (state.dash.launched) {
        const { U, Vt, d, selected } = state.dash;
        put(nativeKey(module, 'dash_U'), [U.rows, U.cols], U.data);
        put(nativeKey(module, 'dash_Vt'), [Vt.rows, Vt.cols], Vt.data);
        put(nativeKey(module, 'dash_d'), [d.length], d);
        put64(nativeKey(module, 'dash_change_rates'), state.dash.changeRates);
        put64(nativeKey(module, 'dash_sigma'), state.dash.sigma);
        meta.dash = { launched: true, selected: [...selected] };
      } else {
        meta.dash = { launched: false };
      }
    }
    if (state.init !== undefined) {
      const { A0, B0 } = state.init;
      put(nativeKey(module, 'init_A0'), [A0.rows, A0.cols], A0.data);
      put(nativeKey(module, 'init_B0'), [B0.rows, B0.cols], B0.data);
      meta.init = { scaling: state.init.scaling };
      if (state.init.selected !== undefined) meta.init.selected = [...state.init.selected];
      put64(nativeKey(module, 'init_change_rates'), state.init.changeRates);
      put64(nativeKey(module, 'init_sigma'), state.init.sigma);
    }
    Object.defineProperty(modules, module, { value: meta, enumerable: true });
  }
  const hasMagnitude = [...adapter.modules.values()].some((m) => m.magnitude !== undefined);
  const json: Record<string, unknown> = { format_version: hasMagnitude ? 3 : 2, modules };
  if (adapter.baseModel !== undefined) json.base_model = adapter.baseModel;
  if (adapter.extra !== undefined) json.extra = adapter.extra;
  return serializeSafetensors(tensors, { [NATIVE_METADATA_KEY]: JSON.stringify(json) });
}

/**
 * Parses a native adapter file. Throws {@link SafetensorsError} naming `file`
 * and the tensor or field for a missing or malformed `tsd_peft` entry, a
 * newer `format_version`, missing or stray tensors, or data of the wrong
 * dtype (F32; F64 for the spectra), and {@link ShapeError} for inconsistent
 * shapes. Reads format versions 1 to 3.
 */
export function parseNativeAdapter(bytes: Uint8Array, file?: string): NativeAdapter {
  const st = parseSafetensors(bytes, file);
  const raw = st.metadata?.[NATIVE_METADATA_KEY];
  const fail = (msg: string, tensor = NATIVE_METADATA_KEY): never => {
    throw new SafetensorsError(msg, { file, tensor });
  };
  if (raw === undefined) fail(`no "${NATIVE_METADATA_KEY}" metadata: not a tsd-peft native adapter`, '__metadata__');
  let json: unknown;
  try {
    json = JSON.parse(raw as string);
  } catch {
    fail('metadata is not valid JSON');
  }
  if (!isRecord(json)) return fail('metadata is not a JSON object');
  const version = json.format_version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) fail('format_version is missing or invalid');
  if ((version as number) > NATIVE_FORMAT_VERSION) {
    fail(`format_version ${String(version)} is newer than this reader (${NATIVE_FORMAT_VERSION})`);
  }
  if (!isRecord(json.modules)) return fail('modules is not an object');
  const used = new Set<string>();
  const take = (name: string, rank: 1 | 2, required = true): { shape: number[]; data: Float32Array } | undefined => {
    const t = st.tensors.get(name);
    if (t === undefined) return required ? fail('tensor is missing', name) : undefined;
    if (t.dtype !== 'F32') fail(`native adapters store F32, found ${t.dtype}`, name);
    if (t.shape.length !== rank) throw new ShapeError(`expected a ${rank}-D tensor`, { file, tensor: name, shape: t.shape });
    used.add(name);
    return { shape: t.shape, data: tensorToFloat32(t, name) };
  };
  /** An optional F64 vector (the spectra of format 2). */
  const take64 = (name: string): Float64Array | undefined => {
    const t = st.tensors.get(name);
    if (t === undefined) return undefined;
    if (t.dtype !== 'F64') fail(`spectra are stored as F64, found ${t.dtype}`, name);
    if (t.shape.length !== 1) throw new ShapeError('expected a 1-D tensor', { file, tensor: name, shape: t.shape });
    used.add(name);
    return decodeFloat64(t.data);
  };
  const indices = (v: unknown, field: string): number[] => {
    if (!Array.isArray(v) || !v.every((i) => Number.isSafeInteger(i) && (i as number) >= 0)) return fail('is not a list of indices', field);
    return v as number[];
  };
  const mat = (name: string): Matrix<Float32Array> => {
    const t = take(name, 2) as { shape: number[]; data: Float32Array };
    return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: t.data };
  };
  const modules = new Map<string, NativeModuleState>();
  for (const [module, m] of Object.entries(json.modules)) {
    const field = `${NATIVE_METADATA_KEY}.modules.${module}`;
    if (!isRecord(m) || typeof m.method !== 'string' || typeof m.scaling !== 'number') {
      return fail('module entry needs a string method and a numeric scaling', field);
    }
    const state: NativeModuleState = {
      method: m.method,
      factors: { A: mat(peftKey(module, 'lora_A')), B: mat(peftKey(module, 'lora_B')), scaling: m.scaling },
    };
    const magnitude = take(peftMagnitudeKey(module), 1, false);
    if (magnitude !== undefined) state.magnitude = magnitude.data;
    if (m.dash !== undefined) {
      if (!isRecord(m.dash) || typeof m.dash.launched !== 'boolean') return fail('dash needs a boolean launched', `${field}.dash`);
      if (m.dash.launched) {
        const selected = indices(m.dash.selected, `${field}.dash.selected`);
        const d = take(nativeKey(module, 'dash_d'), 1) as { data: Float32Array };
        state.dash = {
          launched: true,
          U: mat(nativeKey(module, 'dash_U')),
          Vt: mat(nativeKey(module, 'dash_Vt')),
          d: d.data,
          selected,
        };
        const changeRates = take64(nativeKey(module, 'dash_change_rates'));
        const sigma = take64(nativeKey(module, 'dash_sigma'));
        if (changeRates !== undefined) state.dash.changeRates = changeRates;
        if (sigma !== undefined) state.dash.sigma = sigma;
      } else {
        state.dash = { launched: false };
      }
    }
    if (m.init !== undefined) {
      if (!isRecord(m.init) || typeof m.init.scaling !== 'number') return fail('init needs a numeric scaling', `${field}.init`);
      state.init = { A0: mat(nativeKey(module, 'init_A0')), B0: mat(nativeKey(module, 'init_B0')), scaling: m.init.scaling };
      if (m.init.selected !== undefined) state.init.selected = Int32Array.from(indices(m.init.selected, `${field}.init.selected`));
      const changeRates = take64(nativeKey(module, 'init_change_rates'));
      const sigma = take64(nativeKey(module, 'init_sigma'));
      if (changeRates !== undefined) state.init.changeRates = changeRates;
      if (sigma !== undefined) state.init.sigma = sigma;
    }
    checkModule(module, state, file);
    modules.set(module, state);
  }
  for (const name of st.tensors.keys()) {
    if (!used.has(name)) fail('tensor belongs to no module listed in the metadata', name);
  }
  const out: NativeAdapter = { modules };
  if (typeof json.base_model === 'string') out.baseModel = json.base_model;
  if (isRecord(json.extra)) out.extra = json.extra as JsonObject;
  return out;
}

/** Checks a module's factors, dash and init shapes against each other. */
function checkModule(module: string, s: NativeModuleState, file?: string): void {
  validateLoraFactors(s.factors, undefined, module);
  const out = s.factors.B.rows;
  const inDim = s.factors.A.cols;
  const shapeErr = (tensor: string, msg: string, shape: number[]): never => {
    throw new ShapeError(msg, { file, tensor: nativeKey(module, tensor), shape });
  };
  if (s.magnitude !== undefined && s.magnitude.length !== out) {
    throw new ShapeError(`magnitude holds ${s.magnitude.length} values for ${out} output rows`, { file, tensor: peftMagnitudeKey(module), shape: [s.magnitude.length] });
  }
  if (s.dash?.launched === true) {
    const { U, Vt, d, selected } = s.dash;
    const k = d.length;
    if (U.rows !== out || U.cols !== k || U.data.length !== out * k) shapeErr('dash_U', `expected [${out}, ${k}]`, [U.rows, U.cols]);
    if (Vt.rows !== k || Vt.cols !== inDim || Vt.data.length !== k * inDim) shapeErr('dash_Vt', `expected [${k}, ${inDim}]`, [Vt.rows, Vt.cols]);
    const maxRank = Math.min(out, inDim);
    if (selected.length !== k || !selected.every((i) => Number.isSafeInteger(i) && i >= 0 && i < maxRank)) {
      shapeErr('dash_d', `selected must hold ${k} indices below ${maxRank}`, [selected.length]);
    }
    checkSpectra(module, 'dash', s.dash, selected, maxRank, file);
  }
  if (s.init !== undefined) {
    const { A0, B0, scaling, selected } = s.init;
    validateLoraFactors({ A: A0, B: B0, scaling }, { rows: out, cols: inDim }, `${module}.init`);
    const maxRank = Math.min(out, inDim);
    if (selected !== undefined && (selected.length !== A0.rows || !selected.every((i) => i >= 0 && i < maxRank))) {
      shapeErr('init_A0', `init.selected must hold r = ${A0.rows} indices below ${maxRank}`, [selected.length]);
    }
    checkSpectra(module, 'init', s.init, selected === undefined ? [] : [...selected], maxRank, file);
  }
}

/**
 * Spectra hold one value per singular direction: at most min(out, in) (a thin
 * SVD; fewer only for a truncated one), covering every selected index, and
 * the rates and σ of one selection have the same length.
 */
function checkSpectra(module: string, part: 'dash' | 'init', spectra: { changeRates?: Float64Array; sigma?: Float64Array }, selected: readonly number[], maxRank: number, file?: string): void {
  const needed = selected.reduce((a, i) => Math.max(a, i + 1), 0);
  for (const [field, v] of [
    ['change_rates', spectra.changeRates],
    ['sigma', spectra.sigma],
  ] as const) {
    if (v === undefined) continue;
    if (v.length > maxRank || v.length < needed) {
      throw new ShapeError(`expected between ${needed} and ${maxRank} values (one per singular direction)`, {
        file,
        tensor: nativeKey(module, `${part}_${field}`),
        shape: [v.length],
      });
    }
  }
  const { changeRates, sigma } = spectra;
  if (changeRates !== undefined && sigma !== undefined && changeRates.length !== sigma.length) {
    throw new ShapeError(`holds ${sigma.length} singular values for ${changeRates.length} change rates`, {
      file,
      tensor: nativeKey(module, `${part}_sigma`),
      shape: [sigma.length],
    });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
