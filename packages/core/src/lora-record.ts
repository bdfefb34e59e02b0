/**
 * The record parts of the LoRA family (see `module-record.ts`), one writer
 * and one validating reader each, so the built-in variants, the readers of
 * older files and tools that inspect native adapters agree on the names:
 *
 * - LoRA factors: `lora_A.weight` [r, in], `lora_B.weight` [out, r] (PEFT's
 *   names), meta `scaling`;
 * - LoRA-Dash (Si et al., §4.2): `dash_U` [out, s], `dash_Vt` [s, in] (the
 *   selected singular directions) and `dash_d` [s] (their coefficients, so the
 *   term is U_s · diag(d) · V_sᵀ), meta `dash: { launched, selected }`;
 * - initialisation residual (LoRA-Init §4.1, PiSSA, MiLoRA): `init_A0` [r, in],
 *   `init_B0` [out, r], from which W' = W − init.scaling · B0·A0 is rebuilt,
 *   meta `init: { scaling, selected? }`;
 * - the spectrum each selection was made from, F64 with one entry per
 *   singular direction of W: `dash_change_rates` / `init_change_rates`
 *   (δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ, eq. (3) of Si et al., +Infinity where σᵢ = 0) and
 *   `dash_sigma` / `init_sigma` (σᵢ). They cannot be recomputed after the fact.
 */
import { ShapeError } from './errors.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import { type RecordLocation, type StateRecord, type StateTensor, isJsonObject, matrixTensor, recordMatrix, recordVector, vectorTensor, combineRecords } from './module-record.js';
import { nativeKey } from './module-names.js';
import type { JsonObject } from './python-json.js';
import { SafetensorsError } from './errors.js';

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
      /** Change rates of every direction at launch (eq. (3) of Si et al.); absent in files of format 1. */
      changeRates?: Float64Array;
      /** Singular values of the original W, descending, one per direction; absent in files of format 1. */
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

/** The LoRA-family parts of a record, read and checked against each other by {@link readLoraRecord}. */
export interface LoraRecordParts {
  factors: LoraFactors;
  dash?: DashState;
  init?: InitResidual;
}

/** The factors part: `lora_A.weight`, `lora_B.weight` and meta `scaling`. */
export function loraFactorsRecord(factors: LoraFactors): StateRecord {
  return { tensors: { 'lora_A.weight': matrixTensor(factors.A), 'lora_B.weight': matrixTensor(factors.B) }, meta: { scaling: factors.scaling } };
}

/** The dash part: meta `dash` and, once launched, the bases, d and the launch spectrum. */
export function dashRecord(dash: DashState): StateRecord {
  if (!dash.launched) return { tensors: {}, meta: { dash: { launched: false } } };
  const tensors: Record<string, StateTensor> = { dash_U: matrixTensor(dash.U), dash_Vt: matrixTensor(dash.Vt), dash_d: vectorTensor(dash.d) };
  if (dash.changeRates !== undefined) tensors.dash_change_rates = vectorTensor(dash.changeRates);
  if (dash.sigma !== undefined) tensors.dash_sigma = vectorTensor(dash.sigma);
  return { tensors, meta: { dash: { launched: true, selected: [...dash.selected] } } };
}

/** The init part: `init_A0`, `init_B0`, the spectrum if any, and meta `init`. */
export function initRecord(init: InitResidual): StateRecord {
  const tensors: Record<string, StateTensor> = { init_A0: matrixTensor(init.A0), init_B0: matrixTensor(init.B0) };
  if (init.changeRates !== undefined) tensors.init_change_rates = vectorTensor(init.changeRates);
  if (init.sigma !== undefined) tensors.init_sigma = vectorTensor(init.sigma);
  const meta: JsonObject = { scaling: init.scaling };
  if (init.selected !== undefined) meta.selected = [...init.selected];
  return { tensors, meta: { init: meta } };
}

/** A record of all LoRA-family parts present (the layout of native formats 1–3, per module). */
export function loraRecord(parts: LoraRecordParts): StateRecord {
  return combineRecords(loraFactorsRecord(parts.factors), ...(parts.dash ? [dashRecord(parts.dash)] : []), ...(parts.init ? [initRecord(parts.init)] : []));
}

/**
 * The factors of a record, validated (rank agreement, finite scaling, and
 * against the weight shape `[out, in]` when given). Throws
 * {@link SafetensorsError} / {@link ShapeError} naming the tensor or field.
 */
export function readLoraFactors(record: StateRecord, at: RecordLocation, weight?: { rows: number; cols: number }): LoraFactors {
  const scaling = record.meta.scaling;
  if (typeof scaling !== 'number') throw new SafetensorsError('module state needs a numeric scaling', { file: at.file, field: `${at.module}.scaling` });
  const factors = {
    A: recordMatrix(record, 'lora_A.weight', at) as Matrix<Float32Array>,
    B: recordMatrix(record, 'lora_B.weight', at) as Matrix<Float32Array>,
    scaling,
  };
  validateLoraFactors(factors, weight, at.module);
  return factors;
}

/**
 * The dash part of a record (undefined when it has none), checked against
 * the weight shape: U_s [out, s], V_sᵀ [s, in], d [s], s indices below
 * min(out, in), spectra as in {@link readInitResidual}.
 */
export function readDashState(record: StateRecord, at: RecordLocation, weight: { rows: number; cols: number }): DashState | undefined {
  const meta = partMeta(record, 'dash', 'launched', 'boolean', at);
  if (meta === undefined) return undefined;
  if (!meta.launched) return { launched: false };
  const { rows: out, cols: inDim } = weight;
  const maxRank = Math.min(out, inDim);
  const selected = indices(meta.selected, `${at.module}.dash.selected`, at.file);
  const k = selected.length;
  const U = recordMatrix(record, 'dash_U', at, { rows: out, cols: k }) as Matrix<Float32Array>;
  const Vt = recordMatrix(record, 'dash_Vt', at, { rows: k, cols: inDim }) as Matrix<Float32Array>;
  const d = recordVector(record, 'dash_d', at, Float32Array, k) as Float32Array;
  if (!selected.every((i) => i < maxRank)) throw new ShapeError(`dash.selected must hold indices below ${maxRank}`, { file: at.file, tensor: nativeKey(at.module, 'dash_d'), shape: [k] });
  const dash: DashState = { launched: true, U, Vt, d, selected };
  Object.assign(dash, spectra(record, 'dash', selected, maxRank, at));
  return dash;
}

/**
 * The init part of a record (undefined when it has none), checked against
 * the weight shape: A0, B0 as LoRA factors of W, `selected` r indices below
 * min(out, in), and each spectrum (F64) holding one value per singular
 * direction — at most min(out, in), at least enough for every selected index —
 * with rates and σ of the same length.
 */
export function readInitResidual(record: StateRecord, at: RecordLocation, weight: { rows: number; cols: number }): InitResidual | undefined {
  const meta = partMeta(record, 'init', 'scaling', 'number', at);
  if (meta === undefined) return undefined;
  const scaling = meta.scaling as number;
  const A0 = recordMatrix(record, 'init_A0', at) as Matrix<Float32Array>;
  const B0 = recordMatrix(record, 'init_B0', at) as Matrix<Float32Array>;
  validateLoraFactors({ A: A0, B: B0, scaling }, weight, `${at.module}.init`);
  const init: InitResidual = { A0, B0, scaling };
  const maxRank = Math.min(weight.rows, weight.cols);
  let selected: number[] = [];
  if (meta.selected !== undefined) {
    selected = indices(meta.selected, `${at.module}.init.selected`, at.file);
    if (selected.length !== A0.rows || !selected.every((i) => i < maxRank)) {
      throw new ShapeError(`init.selected must hold r = ${A0.rows} indices below ${maxRank}`, { file: at.file, tensor: nativeKey(at.module, 'init_A0'), shape: [selected.length] });
    }
    init.selected = Int32Array.from(selected);
  }
  return Object.assign(init, spectra(record, 'init', selected, maxRank, at));
}

/**
 * All LoRA-family parts of a record, checked against each other (the dash
 * and init shapes against the factors'): for tools that read a native
 * adapter of a built-in method without a model.
 */
export function readLoraRecord(record: StateRecord, at: RecordLocation): LoraRecordParts {
  const factors = readLoraFactors(record, at);
  const weight = { rows: factors.B.rows, cols: factors.A.cols };
  const parts: LoraRecordParts = { factors };
  const dash = readDashState(record, at, weight);
  if (dash !== undefined) parts.dash = dash;
  const init = readInitResidual(record, at, weight);
  if (init !== undefined) parts.init = init;
  return parts;
}

function spectra(record: StateRecord, part: 'dash' | 'init', selected: readonly number[], maxRank: number, at: RecordLocation): { changeRates?: Float64Array; sigma?: Float64Array } {
  const needed = selected.reduce((a, i) => Math.max(a, i + 1), 0);
  const out: { changeRates?: Float64Array; sigma?: Float64Array } = {};
  for (const [key, name] of [
    ['changeRates', `${part}_change_rates`],
    ['sigma', `${part}_sigma`],
  ] as const) {
    const v = recordVector(record, name, at, Float64Array, undefined, false);
    if (v === undefined) continue;
    if (v.length > maxRank || v.length < needed) {
      throw new ShapeError(`expected between ${needed} and ${maxRank} values (one per singular direction)`, { file: at.file, tensor: nativeKey(at.module, name), shape: [v.length] });
    }
    out[key] = v;
  }
  if (out.changeRates !== undefined && out.sigma !== undefined && out.changeRates.length !== out.sigma.length) {
    throw new ShapeError(`holds ${out.sigma.length} singular values for ${out.changeRates.length} change rates`, {
      file: at.file,
      tensor: nativeKey(at.module, `${part}_sigma`),
      shape: [out.sigma.length],
    });
  }
  return out;
}

/** The meta object of a record part, with its one required field checked; undefined when the record has no such part. */
function partMeta(record: StateRecord, part: 'dash' | 'init', key: string, type: 'boolean' | 'number', at: RecordLocation): JsonObject | undefined {
  const meta = record.meta[part];
  if (meta === undefined) return undefined;
  if (!isJsonObject(meta) || typeof meta[key] !== type) throw new SafetensorsError(`${part} needs a ${type} ${key}`, { file: at.file, field: `${at.module}.${part}` });
  return meta;
}

function indices(v: unknown, field: string, file?: string): number[] {
  if (!Array.isArray(v) || !v.every((i) => Number.isSafeInteger(i) && (i as number) >= 0)) throw new SafetensorsError('is not a list of indices', { file, field });
  return v as number[];
}
