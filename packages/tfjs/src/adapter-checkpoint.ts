import { ConfigError, ShapeError, type DashState, type InitResidual, type Matrix, type NativeModuleState } from '@tsd-peft/core';
import type { AdapterSlot } from './adapter-slot.js';
import type { ModelCheckpointState, TensorData } from './trainable.js';

/**
 * The adapter model's part of a trainer checkpoint: everything that is not
 * a trainable variable (those the trainer saves itself) — per module the
 * method, LoRA-Dash's launch flag, selected indices and frozen bases U_s,
 * V_sᵀ, and the initial factors A₀, B₀ from which a residual W' is rebuilt,
 * with the spectra each selection was made from (change rates and σ), so a
 * resumed run reports the same selections. A method without a native form
 * (full fine-tuning) needs nothing beyond its variables.
 *
 * The spectra are float64 and the checkpoint's tensors float32, so they go
 * into the JSON part, where a number round-trips exactly; +Infinity (a rate
 * where σᵢ = 0), which JSON lacks, is written as the string "Infinity".
 */

/** A float64 vector in JSON: finite values as numbers, non-finite ones as strings. */
type JsonSpectrum = (number | string)[];

interface Spectra {
  changeRates?: JsonSpectrum;
  sigma?: JsonSpectrum;
}

interface ModuleMeta {
  method: string;
  init: ({ scaling: number; selected?: number[] } & Spectra) | null;
  dash: ({ launched: boolean; selected?: number[] } & Spectra) | null;
}

/** Builds the checkpoint state of all slots. */
export function checkpointFromSlots(slots: Iterable<AdapterSlot>): ModelCheckpointState {
  const tensors: Record<string, TensorData> = {};
  const modules: Record<string, ModuleMeta> = {};
  const put = (key: string, m: Matrix<Float32Array>) => {
    tensors[key] = { shape: [m.rows, m.cols], data: Float32Array.from(m.data) };
  };
  for (const slot of slots) {
    if (!slot.hasNative) {
      modules[slot.name] = { method: slot.variant.name, init: null, dash: null };
      continue;
    }
    const native = slot.toNative();
    const meta: ModuleMeta = { method: native.method, init: null, dash: null };
    if (native.init !== undefined) {
      put(`${slot.name}.init_A0`, native.init.A0);
      put(`${slot.name}.init_B0`, native.init.B0);
      meta.init = { scaling: native.init.scaling, ...spectraToJson(native.init) };
      if (native.init.selected !== undefined) meta.init.selected = [...native.init.selected];
    }
    if (native.dash !== undefined) {
      if (native.dash.launched) {
        put(`${slot.name}.dash_U`, native.dash.U);
        put(`${slot.name}.dash_Vt`, native.dash.Vt);
        meta.dash = { launched: true, selected: [...native.dash.selected], ...spectraToJson(native.dash) };
      } else {
        meta.dash = { launched: false };
      }
    }
    modules[slot.name] = meta;
  }
  return { tensors, meta: { modules } };
}

/**
 * Restores slots from {@link checkpointFromSlots} output. Variables keep
 * their current values (the trainer overwrites them next); a launched dash
 * term gets its d variable back (zeros until restored). Throws
 * {@link ConfigError} naming the module when the checkpoint does not match
 * the model (missing module, other method) and {@link ShapeError} for a
 * malformed tensor.
 */
export function restoreSlotsFromCheckpoint(slots: ReadonlyMap<string, AdapterSlot>, state: ModelCheckpointState): void {
  const modules = state.meta.modules;
  if (typeof modules !== 'object' || modules === null) {
    throw new ConfigError('checkpoint has no adapter module state (meta.modules)', { field: 'meta.modules' });
  }
  const byName = modules as Record<string, ModuleMeta | undefined>;
  for (const [name, slot] of slots) {
    const meta = byName[name];
    if (meta === undefined) throw new ConfigError('checkpoint has no state for this module', { tensor: name });
    if (meta.method !== slot.variant.name) {
      throw new ConfigError(`checkpoint was made with method '${meta.method}', the model uses '${slot.variant.name}'`, { tensor: name });
    }
    if (!slot.hasNative) continue;
    const current = slot.toNative();
    const restored: NativeModuleState = { method: meta.method, factors: current.factors };
    // Variables (factors, DoRA's magnitude) keep their current values; the trainer restores them next.
    if (current.magnitude !== undefined) restored.magnitude = current.magnitude;
    if (meta.init !== null) {
      const init: InitResidual = {
        A0: matrixOf(state, `${name}.init_A0`),
        B0: matrixOf(state, `${name}.init_B0`),
        scaling: meta.init.scaling,
        ...spectraFromJson(meta.init, `${name}.init`),
      };
      if (meta.init.selected !== undefined) init.selected = Int32Array.from(meta.init.selected);
      restored.init = init;
    }
    if (meta.dash !== null) restored.dash = dashOf(state, name, meta.dash);
    slot.fromNative(restored);
  }
}

function dashOf(state: ModelCheckpointState, name: string, meta: NonNullable<ModuleMeta['dash']>): DashState {
  if (!meta.launched) return { launched: false };
  const U = matrixOf(state, `${name}.dash_U`);
  const Vt = matrixOf(state, `${name}.dash_Vt`);
  const selected = meta.selected ?? [];
  if (selected.length !== U.cols || Vt.rows !== U.cols) {
    throw new ShapeError(`dash state holds ${selected.length} indices for ${U.cols} directions`, { tensor: `${name}.dash_U`, shape: [U.rows, U.cols] });
  }
  return { launched: true, U, Vt, d: new Float32Array(U.cols), selected, ...spectraFromJson(meta, `${name}.dash`) };
}

function spectraToJson(s: { changeRates?: Float64Array; sigma?: Float64Array }): Spectra {
  const json = (v: Float64Array) => Array.from(v, (x) => (Number.isFinite(x) ? x : String(x)));
  return {
    ...(s.changeRates === undefined ? {} : { changeRates: json(s.changeRates) }),
    ...(s.sigma === undefined ? {} : { sigma: json(s.sigma) }),
  };
}

function spectraFromJson(meta: Spectra, field: string): { changeRates?: Float64Array; sigma?: Float64Array } {
  const read = (v: unknown, key: string): Float64Array => {
    const values = Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? Number(x) : x)) : null;
    if (values === null || !values.every((x) => typeof x === 'number' && !Number.isNaN(x))) {
      throw new ConfigError('checkpoint spectrum is not a list of numbers', { field: `${field}.${key}` });
    }
    return Float64Array.from(values as number[]);
  };
  return {
    ...(meta.changeRates === undefined ? {} : { changeRates: read(meta.changeRates, 'changeRates') }),
    ...(meta.sigma === undefined ? {} : { sigma: read(meta.sigma, 'sigma') }),
  };
}

function matrixOf(state: ModelCheckpointState, key: string): Matrix<Float32Array> {
  const t = state.tensors[key];
  if (t === undefined) throw new ConfigError('checkpoint tensor is missing', { tensor: key });
  const [rows, cols] = t.shape;
  if (t.shape.length !== 2 || rows === undefined || cols === undefined || t.data.length !== rows * cols) {
    throw new ShapeError('checkpoint tensor must be 2-D and hold rows·cols values', { tensor: key, shape: t.shape });
  }
  return { rows, cols, data: t.data };
}
