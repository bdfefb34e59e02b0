import { combineRecords, ConfigError, dashRecord, EMPTY_RECORD, initRecord, ShapeError, type DashState, type InitResidual, type Matrix, type ModuleRecord, type StateRecord } from '@tsd-peft/core';
import type { AdapterSlot } from './adapter-slot.js';
import type { ModelCheckpointState } from './trainable.js';

/**
 * Reader of the trainer checkpoints written before module records (up to
 * native format 3): per module `meta.modules[name] = { method, init, dash }`,
 * the tensors `<module>.init_A0`, `.init_B0`, `.dash_U`, `.dash_Vt` (F32),
 * the spectra in the JSON (+Infinity as the string "Infinity"), and nothing
 * of what is a variable (factors, DoRA's magnitude, d), which the trainer
 * restores right after. They convert to the records the built-in variants
 * write: the variables' parts from the model's current record, the init and
 * dash parts from the checkpoint, d as zeros until the trainer restores it.
 */

type JsonSpectrum = (number | string)[];

interface Spectra {
  changeRates?: JsonSpectrum;
  sigma?: JsonSpectrum;
}

interface LegacyModuleMeta {
  method: string;
  init?: ({ scaling: number; selected?: number[] } & Spectra) | null;
  dash?: ({ launched: boolean; selected?: number[] } & Spectra) | null;
}

/** The records of an old checkpoint's modules (a module it lacks is left out, for the caller to report). */
export function legacyCheckpointRecords(slots: ReadonlyMap<string, AdapterSlot>, state: ModelCheckpointState): Map<string, ModuleRecord> {
  const modules = state.meta.modules;
  if (typeof modules !== 'object' || modules === null) {
    throw new ConfigError('checkpoint has no adapter module state (meta.modules)', { field: 'meta.modules' });
  }
  const records = new Map<string, ModuleRecord>();
  for (const [name, slot] of slots) {
    const meta = (modules as Record<string, LegacyModuleMeta | undefined>)[name];
    if (meta === undefined) continue;
    if (!slot.hasRecord || meta.method !== slot.variant.name) {
      records.set(name, { method: meta.method, ...EMPTY_RECORD });
      continue;
    }
    const parts = [withoutInitAndDash(slot.saveRecord())];
    if (meta.init != null) {
      const init: InitResidual = { A0: matrixOf(state, `${name}.init_A0`), B0: matrixOf(state, `${name}.init_B0`), scaling: meta.init.scaling, ...spectraFromJson(meta.init, `${name}.init`) };
      if (meta.init.selected !== undefined) init.selected = Int32Array.from(meta.init.selected);
      parts.push(initRecord(init));
    }
    if (meta.dash != null) parts.push(dashRecord(dashOf(state, name, meta.dash)));
    records.set(name, { method: meta.method, ...combineRecords(...parts) });
  }
  return records;
}

/** A record without its init and dash parts (those come from the checkpoint). */
function withoutInitAndDash(record: StateRecord): StateRecord {
  const own = (k: string) => !/^(init|dash)(_|$)/.test(k);
  return {
    tensors: Object.fromEntries(Object.entries(record.tensors).filter(([k]) => own(k))),
    meta: Object.fromEntries(Object.entries(record.meta).filter(([k]) => own(k))),
  };
}

function dashOf(state: ModelCheckpointState, name: string, meta: NonNullable<LegacyModuleMeta['dash']>): DashState {
  if (!meta.launched) return { launched: false };
  const U = matrixOf(state, `${name}.dash_U`);
  const Vt = matrixOf(state, `${name}.dash_Vt`);
  const selected = meta.selected ?? [];
  if (selected.length !== U.cols || Vt.rows !== U.cols) {
    throw new ShapeError(`dash state holds ${selected.length} indices for ${U.cols} directions`, { tensor: `${name}.dash_U`, shape: [U.rows, U.cols] });
  }
  return { launched: true, U, Vt, d: new Float32Array(U.cols), selected, ...spectraFromJson(meta, `${name}.dash`) };
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
  if (!(t.data instanceof Float32Array) || t.shape.length !== 2 || rows === undefined || cols === undefined || t.data.length !== rows * cols) {
    throw new ShapeError('checkpoint tensor must be 2-D F32 and hold rows·cols values', { tensor: key, shape: [...t.shape] });
  }
  return { rows, cols, data: t.data };
}
