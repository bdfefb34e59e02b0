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
 * - initialisation residual (LoRA-Init, §4.1): `.init_A0` [r, in] and `.init_B0`
 *   [out, r], from which the frozen residual W' = W − init.scaling · B0·A0 is rebuilt.
 *
 * The `__metadata__` key `tsd_peft` holds JSON with `format_version` and, per
 * module, the method name, scaling, dash selection and launch flag.
 */
import { SafetensorsError, ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import { nativeKey, peftKey } from './module-names.js';
import type { JsonObject } from './python-json.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

/** Version written into `tsd_peft.format_version`; readers refuse newer versions. */
export const NATIVE_FORMAT_VERSION = 1;
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
    };

/** The LoRA factors at initialisation, for rebuilding the residual W' = W − scaling · B0·A0. */
export interface InitResidual {
  A0: Matrix<Float32Array>;
  B0: Matrix<Float32Array>;
  scaling: number;
}

/** Everything tsd-peft keeps per adapted module. */
export interface NativeModuleState {
  /** Method name, e.g. `'lora'`, `'lora-dash'`, `'lora-init'`, `'lora-tsd'`. */
  method: string;
  factors: LoraFactors;
  dash?: DashState;
  init?: InitResidual;
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
  init?: { scaling: number };
}

/** Serialises a native adapter to safetensors bytes. Validates shapes first (throws {@link ShapeError}). */
export function serializeNativeAdapter(adapter: NativeAdapter): Uint8Array {
  const tensors = new Map<string, SafetensorsTensor>();
  const modules: Record<string, ModuleMeta> = {};
  const put = (name: string, shape: number[], data: Float32Array) => tensors.set(name, float32Tensor(shape, data, name));
  for (const [module, state] of adapter.modules) {
    checkModule(module, state);
    const { A, B, scaling } = state.factors;
    put(peftKey(module, 'lora_A'), [A.rows, A.cols], A.data);
    put(peftKey(module, 'lora_B'), [B.rows, B.cols], B.data);
    const meta: ModuleMeta = { method: state.method, scaling };
    if (state.dash !== undefined) {
      if (state.dash.launched) {
        const { U, Vt, d, selected } = state.dash;
        put(nativeKey(module, 'dash_U'), [U.rows, U.cols], U.data);
        put(nativeKey(module, 'dash_Vt'), [Vt.rows, Vt.cols], Vt.data);
        put(nativeKey(module, 'dash_d'), [d.length], d);
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
    }
    Object.defineProperty(modules, module, { value: meta, enumerable: true });
  }
  const json: Record<string, unknown> = { format_version: NATIVE_FORMAT_VERSION, modules };
  if (adapter.baseModel !== undefined) json.base_model = adapter.baseModel;
  if (adapter.extra !== undefined) json.extra = adapter.extra;
  return serializeSafetensors(tensors, { [NATIVE_METADATA_KEY]: JSON.stringify(json) });
}

/**
 * Parses a native adapter file. Throws {@link SafetensorsError} naming `file`
 * and the tensor or field for a missing or malformed `tsd_peft` entry, a
 * newer `format_version`, missing or stray tensors, or non-F32 data, and
 * {@link ShapeError} for inconsistent shapes.
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
    if (m.dash !== undefined) {
      if (!isRecord(m.dash) || typeof m.dash.launched !== 'boolean') return fail('dash needs a boolean launched', `${field}.dash`);
      if (m.dash.launched) {
        const selected = m.dash.selected;
        if (!Array.isArray(selected) || !selected.every((i) => Number.isSafeInteger(i) && (i as number) >= 0)) {
          return fail('dash.selected is not a list of indices', `${field}.dash.selected`);
        }
        const d = take(nativeKey(module, 'dash_d'), 1) as { data: Float32Array };
        state.dash = {
          launched: true,
          U: mat(nativeKey(module, 'dash_U')),
          Vt: mat(nativeKey(module, 'dash_Vt')),
          d: d.data,
          selected: selected as number[],
        };
      } else {
        state.dash = { launched: false };
      }
    }
    if (m.init !== undefined) {
      if (!isRecord(m.init) || typeof m.init.scaling !== 'number') return fail('init needs a numeric scaling', `${field}.init`);
      state.init = { A0: mat(nativeKey(module, 'init_A0')), B0: mat(nativeKey(module, 'init_B0')), scaling: m.init.scaling };
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
  if (s.dash?.launched === true) {
    const { U, Vt, d, selected } = s.dash;
    const k = d.length;
    if (U.rows !== out || U.cols !== k || U.data.length !== out * k) shapeErr('dash_U', `expected [${out}, ${k}]`, [U.rows, U.cols]);
    if (Vt.rows !== k || Vt.cols !== inDim || Vt.data.length !== k * inDim) shapeErr('dash_Vt', `expected [${k}, ${inDim}]`, [Vt.rows, Vt.cols]);
    const maxRank = Math.min(out, inDim);
    if (selected.length !== k || !selected.every((i) => Number.isSafeInteger(i) && i >= 0 && i < maxRank)) {
      shapeErr('dash_d', `selected must hold ${k} indices below ${maxRank}`, [selected.length]);
    }
  }
  if (s.init !== undefined) {
    const { A0, B0, scaling } = s.init;
    validateLoraFactors({ A: A0, B: B0, scaling }, { rows: out, cols: inDim }, `${module}.init`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
