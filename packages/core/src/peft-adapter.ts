/**
 * PEFT LoRA adapters in memory: `adapter_config.json` plus
 * `adapter_model.safetensors` (tensors `base_model.model.<module>.lora_{A,B}.weight`,
 * A [r, in], B [out, r]; ΔW = scaling · B · A; with `use_dora` also
 * `base_model.model.<module>.lora_magnitude_vector` [out], DoRA's m).
 * Pure: strings and bytes in and out.
 */
import { ConfigError, SafetensorsError, ShapeError } from './errors.js';
import { encodeBfloat16, encodeFloat16 } from './dtype.js';
import { validateLoraFactors, type LoraFactors } from './lora-factors.js';
import { parsePeftKey, parsePeftMagnitudeKey, peftKey, peftMagnitudeKey } from './module-names.js';
import { createAdapterConfig, isTargetModule, loraRankFor, loraScaling, parseAdapterConfig, serializeAdapterConfig, type LoraAdapterConfig } from './peft-config.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

/** Element types an adapter file may store its factors in. */
export type AdapterWeightsDtype = 'F32' | 'F16' | 'BF16';

/** A PEFT LoRA adapter: its config and, per HF module path, its factors. */
export interface PeftAdapter {
  config: LoraAdapterConfig;
  /** Factors by module path (e.g. `model.layers.0.self_attn.q_proj`); scaling as PEFT computes it. */
  modules: Map<string, LoraFactors>;
  /**
   * DoRA magnitudes m [out] by module path (PEFT `lora_magnitude_vector`),
   * present exactly when `config.use_dora` is true, one per module.
   */
  magnitudes?: Map<string, Float32Array>;
  /** Dtype of the file the adapter was read from; the writer keeps it (default F32). */
  weightsDtype?: AdapterWeightsDtype;
}

/** The two files of a PEFT adapter folder. */
export interface SerializedPeftAdapter {
  /** `adapter_config.json` text. */
  configJson: string;
  /** `adapter_model.safetensors` bytes. */
  weights: Uint8Array;
}

/** Metadata PEFT's `save_pretrained` writes into `adapter_model.safetensors`. */
const PEFT_METADATA = { format: 'pt' } as const;

/**
 * Parses a PEFT adapter from its config text and safetensors bytes. `file`
 * (the adapter folder) labels errors. Checks that every module has both
 * factors with shapes [r, in] and [out, r], that r matches the config
 * (`r` / `rank_pattern`), that the config targets the module, that DoRA
 * adapters (`use_dora`) hold one magnitude [out] per module and others none,
 * and that no other tensors (embedding LoRA, biases) are present.
 * F16/BF16 factors are widened to float32 exactly.
 */
export function parsePeftAdapter(configJson: string, weightsBytes: Uint8Array, file?: string): PeftAdapter {
  const configFile = file === undefined ? 'adapter_config.json' : `${file}/adapter_config.json`;
  const weightsFile = file === undefined ? 'adapter_model.safetensors' : `${file}/adapter_model.safetensors`;
  const config = parseAdapterConfig(configJson, configFile);
  const st = parseSafetensors(weightsBytes, weightsFile);
  const parts = new Map<string, { A?: SafetensorsTensor; B?: SafetensorsTensor; names: [string, string] }>();
  const dtypes = new Set<string>();
  const rawMagnitudes = new Map<string, { t: SafetensorsTensor; name: string }>();
  for (const name of st.headerKeyOrder) {
    const t = st.tensors.get(name) as SafetensorsTensor;
    const magnitudeOf = parsePeftMagnitudeKey(name);
    if (magnitudeOf !== undefined && config.use_dora) {
      if (t.shape.length !== 1) throw new ShapeError(`a DoRA magnitude is 1-D, got ${t.shape.length}-D`, { file: weightsFile, tensor: name, shape: t.shape });
      dtypes.add(t.dtype);
      rawMagnitudes.set(magnitudeOf, { t, name });
      continue;
    }
    const key = parsePeftKey(name);
    if (key === undefined) {
      const what = magnitudeOf !== undefined ? 'a DoRA magnitude but the config does not set use_dora' : 'not a LoRA factor';
      throw new SafetensorsError(`${what} (only base_model.model.<module>.lora_{A,B}.weight${config.use_dora ? ' and .lora_magnitude_vector' : ''} are supported)`, {
        file: weightsFile,
        tensor: name,
      });
    }
    if (t.shape.length !== 2) {
      throw new ShapeError(`LoRA factors are 2-D, got ${t.shape.length}-D`, { file: weightsFile, tensor: name, shape: t.shape });
    }
    dtypes.add(t.dtype);
    const entry = parts.get(key.module) ?? { names: [peftKey(key.module, 'lora_A'), peftKey(key.module, 'lora_B')] };
    entry[key.part === 'lora_A' ? 'A' : 'B'] = t;
    parts.set(key.module, entry);
  }
  const modules = new Map<string, LoraFactors>();
  for (const [module, { A, B, names }] of parts) {
    if (A === undefined || B === undefined) {
      throw new SafetensorsError(`module ${module} lacks its ${A === undefined ? 'lora_A' : 'lora_B'} tensor`, {
        file: weightsFile,
        tensor: A === undefined ? names[0] : names[1],
      });
    }
    const [r, inDim] = A.shape as [number, number];
    const [outDim, rB] = B.shape as [number, number];
    if (rB !== r) {
      throw new ShapeError(`lora_B is [${outDim}, ${rB}] but lora_A has rank ${r}`, { file: weightsFile, tensor: names[1], shape: B.shape });
    }
    const expected = loraRankFor(config, module);
    if (r !== expected) {
      throw new ShapeError(`rank ${r} in the file but the config gives r = ${expected}`, { file: weightsFile, tensor: names[0], shape: A.shape });
    }
    if (config.target_modules !== null && !isTargetModule(config, module)) {
      throw new ConfigError(`module ${module} has weights but target_modules does not select it`, { file: configFile, field: 'target_modules' });
    }
    const factors: LoraFactors = {
      A: { rows: r, cols: inDim, data: tensorToFloat32(A, names[0]) },
      B: { rows: outDim, cols: r, data: tensorToFloat32(B, names[1]) },
      scaling: loraScaling(config, module),
    };
    validateLoraFactors(factors, undefined, module);
    modules.set(module, factors);
  }
  if (dtypes.size > 1 || (dtypes.size === 1 && !['F32', 'F16', 'BF16'].includes([...dtypes][0] as string))) {
    throw new SafetensorsError(`LoRA factors must all be F32, F16 or BF16, found ${[...dtypes].join(', ')}`, { file: weightsFile });
  }
  const weightsDtype = ([...dtypes][0] ?? 'F32') as AdapterWeightsDtype;
  if (!config.use_dora) return { config, modules, weightsDtype };
  const magnitudes = new Map<string, Float32Array>();
  for (const [module, f] of modules) {
    const m = rawMagnitudes.get(module);
    if (m === undefined) throw new SafetensorsError('DoRA adapter (use_dora) lacks this magnitude', { file: weightsFile, tensor: peftMagnitudeKey(module) });
    if (m.t.shape[0] !== f.B.rows) {
      throw new ShapeError(`magnitude holds ${String(m.t.shape[0])} values for ${f.B.rows} output rows`, { file: weightsFile, tensor: m.name, shape: m.t.shape });
    }
    magnitudes.set(module, tensorToFloat32(m.t, m.name));
  }
  for (const [module, m] of rawMagnitudes) {
    if (!modules.has(module)) throw new SafetensorsError(`module ${module} has a magnitude but no lora_A / lora_B`, { file: weightsFile, tensor: m.name });
  }
  return { config, modules, magnitudes, weightsDtype };
}

/** Options of {@link serializePeftAdapter}. */
export interface SerializePeftAdapterOptions {
  /** Element type of the written factors; default `adapter.weightsDtype`, else F32. F16/BF16 round to nearest even. */
  dtype?: AdapterWeightsDtype;
}

/**
 * Writes a PEFT adapter's two files. The config is kept as is when it
 * already gives every module its rank and scaling and targets it (so a
 * parsed adapter writes back byte-identical); otherwise `r`, `lora_alpha`,
 * `rank_pattern`, `alpha_pattern` and `target_modules` are rebuilt from the
 * factors (see {@link reconcileAdapterConfig}).
 */
export function serializePeftAdapter(adapter: PeftAdapter, options: SerializePeftAdapterOptions = {}): SerializedPeftAdapter {
  for (const [module, f] of adapter.modules) validateLoraFactors(f, undefined, module);
  checkMagnitudes(adapter);
  const config = reconcileAdapterConfig(adapter.config, adapter.modules);
  const dtype = options.dtype ?? adapter.weightsDtype ?? 'F32';
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [module, f] of adapter.modules) {
    tensors.set(peftKey(module, 'lora_A'), encodeFactor([f.A.rows, f.A.cols], f.A.data, dtype, peftKey(module, 'lora_A')));
    tensors.set(peftKey(module, 'lora_B'), encodeFactor([f.B.rows, f.B.cols], f.B.data, dtype, peftKey(module, 'lora_B')));
    const m = adapter.magnitudes?.get(module);
    if (m !== undefined) tensors.set(peftMagnitudeKey(module), encodeFactor([m.length], m, dtype, peftMagnitudeKey(module)));
  }
  return { configJson: serializeAdapterConfig(config), weights: serializeSafetensors(tensors, PEFT_METADATA) };
}

/**
 * A PEFT adapter for `modules`, its config built from `base` (PEFT defaults
 * otherwise) and reconciled with the factors' ranks and scalings.
 */
export function createPeftAdapter(modules: Map<string, LoraFactors>, base: Partial<LoraAdapterConfig> = {}, magnitudes?: Map<string, Float32Array>): PeftAdapter {
  const adapter: PeftAdapter = { config: reconcileAdapterConfig(createAdapterConfig(base), modules), modules };
  if (magnitudes !== undefined) adapter.magnitudes = magnitudes;
  checkMagnitudes(adapter);
  return adapter;
}

/**
 * Returns `cfg` unchanged if it gives every module its factors' rank and
 * scaling (relative tolerance 1e-6, for alphas printed in decimal) and
 * targets it; otherwise a copy with the most common rank and alpha as `r`
 * and `lora_alpha`, exceptions in `rank_pattern` / `alpha_pattern` keyed by
 * module path, and `target_modules` listing the modules (exact names, so
 * nothing else gets injected). Throws {@link ConfigError} if no such
 * config reproduces the factors.
 */
export function reconcileAdapterConfig(cfg: LoraAdapterConfig, modules: ReadonlyMap<string, LoraFactors>): LoraAdapterConfig {
  if (agrees(cfg, modules)) return cfg;
  const root = (r: number) => (cfg.use_rslora ? Math.sqrt(r) : r);
  const rank = new Map<string, number>();
  const alpha = new Map<string, number>();
  for (const [m, f] of modules) {
    rank.set(m, f.A.rows);
    alpha.set(m, snapAlpha(f.scaling * root(f.A.rows)));
  }
  const r = modeOf([...rank.values()]) ?? cfg.r;
  const loraAlpha = modeOf([...alpha.values()]) ?? cfg.lora_alpha;
  const targeted = [...modules.keys()].every((m) => cfg.target_modules !== null && isTargetModule(cfg, m));
  for (const escaped of [false, true]) {
    const key = (m: string) => (escaped ? m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : m);
    const rankPattern: Record<string, number> = {};
    const alphaPattern: Record<string, number> = {};
    for (const m of modules.keys()) {
      if (rank.get(m) !== r) rankPattern[key(m)] = rank.get(m) as number;
      if (alpha.get(m) !== loraAlpha) alphaPattern[key(m)] = alpha.get(m) as number;
    }
    const candidate: LoraAdapterConfig = {
      ...cfg,
      r,
      lora_alpha: loraAlpha,
      rank_pattern: rankPattern,
      alpha_pattern: alphaPattern,
      target_modules: targeted ? cfg.target_modules : [...modules.keys()],
      exclude_modules: targeted ? cfg.exclude_modules : null,
      layers_to_transform: targeted ? cfg.layers_to_transform : null,
    };
    if (agrees(candidate, modules)) return candidate;
  }
  throw new ConfigError('no PEFT config reproduces these modules’ ranks and scalings', { field: 'rank_pattern' });
}

function agrees(cfg: LoraAdapterConfig, modules: ReadonlyMap<string, LoraFactors>): boolean {
  for (const [m, f] of modules) {
    if (loraRankFor(cfg, m) !== f.A.rows) return false;
    const s = loraScaling(cfg, m);
    if (Math.abs(s - f.scaling) > 1e-6 * Math.abs(f.scaling)) return false;
    if (cfg.target_modules === null || !isTargetModule(cfg, m)) return false;
  }
  return true;
}

/** alpha = scaling·r is computed in floating point; snap to a nearby integer so the JSON says `16`, not `16.000000000000004`. */
function snapAlpha(a: number): number {
  const n = Math.round(a);
  return Math.abs(a - n) <= 1e-9 * Math.max(1, Math.abs(a)) ? n : a;
}

/** The most frequent value; ties go to the smallest. */
function modeOf(values: number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: number | undefined;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (c > bestCount || (c === bestCount && best !== undefined && v < best)) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

/** A DoRA adapter (`use_dora`) has a magnitude [out] for each module, any other adapter none. */
function checkMagnitudes(adapter: PeftAdapter): void {
  const mags = adapter.magnitudes;
  if (!adapter.config.use_dora) {
    if (mags !== undefined && mags.size > 0) throw new ConfigError('adapter has DoRA magnitudes but use_dora is false', { field: 'use_dora' });
    return;
  }
  for (const [module, f] of adapter.modules) {
    const m = mags?.get(module);
    if (m === undefined) throw new ConfigError("DoRA adapter (use_dora) lacks this module's magnitude", { tensor: peftMagnitudeKey(module) });
    if (m.length !== f.B.rows) throw new ShapeError(`magnitude holds ${m.length} values for ${f.B.rows} output rows`, { tensor: peftMagnitudeKey(module), shape: [m.length] });
  }
}

function encodeFactor(shape: number[], data: Float32Array, dtype: AdapterWeightsDtype, name: string): SafetensorsTensor {
  if (dtype === 'F32') return float32Tensor(shape, data, name);
  return { dtype, shape, data: dtype === 'F16' ? encodeFloat16(data) : encodeBfloat16(data) };
}
