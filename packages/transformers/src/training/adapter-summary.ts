import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { baseWeightShape, denseBaseWeight } from '@tsd-peft/tfjs';
import { ConfigError, changeRateSpectrum, defaultSvdCache, readLoraRecord, selectTaskSpecificDirections, toPlainLora, validateLoraFactors, type LoraFactors, type SvdCache } from '@tsd-peft/core';
import { PEFT_CONFIG_FILE, loadNativeAdapter, readPeftAdapterFolder } from '@tsd-peft/core/node';
import type { CausalLM } from '../load-causal-lm.js';

/**
 * Summaries for `tsd-peft inspect`: a model's shape and parameter count, an
 * adapter's method/rank/modules, and, for an adapter plus its base, the
 * change-rate spectrum of every module and its task-specific directions.
 */

/** What {@link summarizeModel} reports. */
export interface ModelSummary {
  kind: 'model';
  modelType: string;
  source: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Distinct weight elements (a tied head counted once). */
  parameters: number;
  /** Every projection (adapter target) with its [out, in] shape, lm_head last. */
  linearModules: { name: string; shape: number[] }[];
}

/** One adapted module of an {@link AdapterSummary}. */
export interface AdapterModuleSummary {
  name: string;
  method: string;
  /** Rank of the trained factors (without init/dash blocks); null for a method without LoRA factors. */
  r: number | null;
  scaling: number | null;
  /** [out, in] of the adapted weight; null when the record does not say (a method without LoRA factors). */
  shape: [number, number] | null;
  /** LoRA-Dash directions stored in a native adapter, when launched. */
  dashSelected?: number[];
  /**
   * The stored tensors of a native record without LoRA factors (a method
   * registered outside the packages), by name with their shapes. Such a
   * module has no ΔW to analyse, so it gets no spectrum.
   */
  stateTensors?: { name: string; shape: number[] }[];
}

/** An adapter loaded for inspection: its summary and each module's update as one plain LoRA relative to W. */
export interface InspectedAdapter {
  summary: AdapterSummary;
  /** ΔW of each module as plain LoRA factors (PEFT: as stored; native: through core's `toPlainLora`). */
  deltas: Map<string, LoraFactors>;
}

/** What {@link readAdapterForInspection} reports. */
export interface AdapterSummary {
  kind: 'adapter';
  format: 'peft' | 'native';
  path: string;
  method: string;
  /** Rank of the first module with LoRA factors; null when no module has them. */
  r: number | null;
  alpha: number | null;
  useRslora: boolean;
  baseModel: string | null;
  targetModules: string[];
  /** Trainable parameters: A and B (and d for launched LoRA-Dash modules); every stored element for a method without LoRA factors. */
  parameters: number;
  modules: AdapterModuleSummary[];
}

/** The change-rate spectrum of one module and its top directions. */
export interface ModuleSpectrum {
  name: string;
  /** σ of W, descending. */
  sigma: number[];
  /** δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ by σ index (Si et al., eq. 3). */
  rates: number[];
  /** The `top` directions by change rate, descending: the module's TSDs under this ΔW. */
  top: { index: number; sigma: number; rate: number }[];
}

/** Summary of a loaded model (no weights are copied). */
export function summarizeModel(model: CausalLM): ModelSummary {
  let parameters = 0;
  for (const t of new Set(model.weights.values())) parameters += baseWeightShape(t).reduce((a, b) => a * b, 1);
  return {
    kind: 'model',
    modelType: model.modelType,
    source: `${model.source.kind}: ${model.source.location}`,
    layers: model.config.numLayers,
    hiddenSize: model.config.hiddenSize,
    vocabSize: model.config.vocabSize,
    parameters,
    linearModules: model.linearModules().map((name) => ({ name, shape: ((w) => (w === undefined ? [] : baseWeightShape(w)))(model.weights.get(`${name}.weight`)) })),
  };
}

/**
 * Where an adapter lives under `path`: a PEFT folder (`adapter_config.json`),
 * a native `.safetensors` file, or a `tsd-peft train` output folder (its
 * `adapter-native.safetensors`, else `adapter/`). Null when `path` is none of these.
 */
export function locateAdapter(path: string): { format: 'peft' | 'native'; path: string } | null {
  if (!existsSync(path)) return null;
  if (statSync(path).isFile()) return path.endsWith('.safetensors') ? { format: 'native', path } : null;
  if (existsSync(join(path, PEFT_CONFIG_FILE))) return { format: 'peft', path };
  if (existsSync(join(path, 'adapter-native.safetensors'))) return { format: 'native', path: join(path, 'adapter-native.safetensors') };
  if (existsSync(join(path, 'adapter', PEFT_CONFIG_FILE))) return { format: 'peft', path: join(path, 'adapter') };
  return null;
}

/**
 * The adapter's recorded base model (`base_model_name_or_path`) as a local
 * model folder or file, when one exists: as written (absolute, or relative to
 * the working directory), else relative to the adapter's folder or the folder
 * above it (a relative path recorded by a run whose adapter sits beside its
 * model). Null for anything else, hub ids included: inspecting should not
 * download a model unasked.
 */
export function findLocalBaseModel(recorded: string | null, adapterPath: string): string | null {
  if (recorded === null || recorded.length === 0) return null;
  const adapterDir = statSync(adapterPath).isFile() ? dirname(adapterPath) : adapterPath;
  const candidates = isAbsolute(recorded) ? [recorded] : [resolve(recorded), resolve(adapterDir, recorded), resolve(adapterDir, '..', recorded)];
  return (
    candidates.find((path) => {
      if (!existsSync(path)) return false;
      return statSync(path).isFile() ? path.endsWith('.bin') : existsSync(join(path, 'config.json'));
    }) ?? null
  );
}

/** Reads a PEFT folder or native file and summarizes it. Errors name the file. */
export function readAdapterForInspection(location: { format: 'peft' | 'native'; path: string }): InspectedAdapter {
  const deltas = new Map<string, LoraFactors>();
  const modules: AdapterModuleSummary[] = [];
  let parameters = 0;
  const shapeOf = (f: LoraFactors): [number, number] => [f.B.rows, f.A.cols];
  if (location.format === 'peft') {
    const adapter = readPeftAdapterFolder(location.path);
    const method = adapter.config.use_rslora ? 'rslora' : 'lora';
    for (const [name, f] of adapter.modules) {
      deltas.set(name, f);
      modules.push({ name, method, r: f.A.rows, scaling: f.scaling, shape: shapeOf(f) });
      parameters += f.A.data.length + f.B.data.length;
    }
    const targets = adapter.config.target_modules;
    return {
      deltas,
      summary: {
        kind: 'adapter',
        format: 'peft',
        path: location.path,
        method,
        r: adapter.config.r,
        alpha: adapter.config.lora_alpha,
        useRslora: adapter.config.use_rslora,
        baseModel: adapter.config.base_model_name_or_path,
        targetModules: targets === null ? [] : typeof targets === 'string' ? [targets] : [...targets],
        parameters,
        modules,
      },
    };
  }
  const adapter = loadNativeAdapter(location.path);
  for (const [name, record] of adapter.modules) {
    if (record.tensors['lora_A.weight'] === undefined) {
      // A method registered outside the packages keeps its own tensors: list them rather than refuse the file.
      const stateTensors = Object.entries(record.tensors).map(([tensor, t]) => ({ name: tensor, shape: [...t.shape] }));
      modules.push({ name, method: record.method, r: null, scaling: null, shape: null, stateTensors });
      parameters += Object.values(record.tensors).reduce((n, t) => n + t.data.length, 0);
      continue;
    }
    // The LoRA-family parts of the record (every built-in method with a native form has its factors there).
    const state = readLoraRecord(record, { module: name, file: location.path });
    const dash = state.dash?.launched === true ? state.dash : undefined;
    deltas.set(name, toPlainLora({ factors: state.factors, ...(state.init ? { init: { A: state.init.A0, B: state.init.B0, scaling: state.init.scaling } } : {}), ...(dash ? { dash } : {}), name }));
    modules.push({ name, method: record.method, r: state.factors.A.rows, scaling: state.factors.scaling, shape: shapeOf(state.factors), ...(dash ? { dashSelected: [...dash.selected] } : {}) });
    parameters += state.factors.A.data.length + state.factors.B.data.length + (dash ? dash.d.length : 0);
  }
  const methods = [...new Set(modules.map((m) => m.method))];
  const extra = adapter.extra ?? {};
  const first = modules.find((m) => m.r !== null);
  return {
    deltas,
    summary: {
      kind: 'adapter',
      format: 'native',
      path: location.path,
      method: methods.join(', '),
      r: first?.r ?? 0,
      alpha: typeof extra['alpha'] === 'number' ? extra['alpha'] : null,
      useRslora: false,
      baseModel: adapter.baseModel ?? null,
      targetModules: [...new Set(modules.map((m) => m.name.split('.').pop() as string))],
      parameters,
      modules,
    },
  };
}

/**
 * The change-rate spectrum of each module's ΔW against the base weight W:
 * exact SVD of W (through `svdCache`), δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ, and the `top`
 * largest rates — the task-specific directions of Si et al. (§3, eq. 3–4).
 * Throws {@link ConfigError} when a module has no weight in the base.
 */
export function adapterSpectra(deltas: ReadonlyMap<string, LoraFactors>, base: CausalLM, top: number, svdCache: SvdCache = defaultSvdCache): ModuleSpectrum[] {
  const out: ModuleSpectrum[] = [];
  for (const [name, delta] of deltas) {
    const tensor = base.weights.get(`${name}.weight`);
    if (tensor === undefined || baseWeightShape(tensor).length !== 2) {
      throw new ConfigError(`adapter module has no 2-D weight in the base model (its modules: ${base.linearModules().join(', ')})`, { tensor: name });
    }
    const [rows, cols] = baseWeightShape(tensor) as [number, number];
    validateLoraFactors(delta, { rows, cols }, name);
    // a reduced-precision base is decoded exactly: the spectrum of the W the model computes with
    const data = tf.tidy(() => Float32Array.from(denseBaseWeight(tensor).dataSync()));
    const svd = svdCache.get({ rows, cols, data }, name);
    const spectrum = changeRateSpectrum(svd, delta, name);
    // By σ index (the spectrum is sorted by σ, which is index order for an exact SVD, but do not rely on it).
    const rates = new Float64Array(spectrum.length);
    const sigma = new Array<number>(spectrum.length).fill(0);
    for (const e of spectrum) {
      rates[e.index] = e.rate;
      sigma[e.index] = e.sigma;
    }
    const selected = selectTaskSpecificDirections(rates, Math.min(top, rates.length), `${name}.change_rate`);
    out.push({
      name,
      sigma,
      rates: [...rates],
      top: [...selected].map((i) => ({ index: i, sigma: sigma[i] as number, rate: rates[i] as number })),
    });
  }
  return out;
}

/** A one-line sketch of a spectrum: `width` bins in σ order (largest σ left), each the bin's max rate on ▁…█. */
export function sparkline(rates: readonly number[], width = 16): string {
  const bars = '▁▂▃▄▅▆▇█';
  const n = rates.length;
  if (n === 0) return '';
  const bins = Math.min(width, n);
  const peaks: number[] = [];
  for (let b = 0; b < bins; b++) {
    let m = 0;
    for (let i = Math.floor((b * n) / bins); i < Math.floor(((b + 1) * n) / bins); i++) m = Math.max(m, rates[i] as number);
    peaks.push(m);
  }
  const max = Math.max(...peaks);
  return peaks.map((p) => bars[max > 0 ? Math.min(7, Math.floor((p / max) * 7.999)) : 0]).join('');
}
