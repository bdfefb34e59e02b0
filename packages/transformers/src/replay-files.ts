import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, ShapeError, createPeftAdapter, parsePeftKey, parseSafetensors, tensorToFloat32, type LoraFactors, type PeftAdapter } from '@tsd-peft/core';
import { readFileBytes } from '@tsd-peft/core/node';

/**
 * Reading a LoRA-Dash trajectory folder: the layout of
 * `shared/reference/lora-dash-trajectory` (config.json, batches.json,
 * init_lora.safetensors, launch.json, losses.json, and optionally
 * final_lora.safetensors, final_lora_dash.safetensors,
 * final_logits.safetensors, d_history.json; inputs.json in the parent).
 */

/** A float32 tensor read from a reference file. */
export interface RefTensor {
  shape: number[];
  data: Float32Array;
}

/** Hyperparameters of the recorded runs, from `config.json`. */
export interface TrajectoryConfig {
  /** `base_model`, resolved against the folder's parent; null when absent. */
  baseModel: string | null;
  targetModules: string[];
  r: number;
  alpha: number;
  /** LoRA-Dash's directions s (`dash_directions_s`). */
  s: number;
  /** LoRA-Dash's pre-launch optimizer steps t (`warmup_optimizer_steps`). */
  t: number;
  steps: number;
  optimizer: { type: 'adam' | 'adamw'; lr: number; beta1: number; beta2: number; eps: number; weightDecay: number };
}

/** The launch record of one module (`launch.json`). */
export interface ReferenceLaunch {
  topIndex: number[];
  changeRate: number[];
}

/** Everything a replay reads. */
export interface TrajectoryFolder {
  dir: string;
  config: TrajectoryConfig;
  /** `[steps][rows][seq]` token ids. */
  batches: number[][][];
  /** The initial A/B of every module, as a PEFT adapter (scaling alpha/r). */
  initial: PeftAdapter;
  launch: Map<string, ReferenceLaunch>;
  losses: { lora: number[]; loraDash: number[] };
  /** Final tensors by PEFT key (`base_model.model.<module>.lora_A.weight`, `.dash_d`, …), when present. */
  finalLora: Map<string, RefTensor> | null;
  finalLoraDash: Map<string, RefTensor> | null;
  /** `lora.input2`, `lora_dash.input1`, … when present. */
  finalLogits: Map<string, RefTensor> | null;
  /** d of every module after each step from launch on, when present. */
  dHistory: Record<string, number[]>[] | null;
  /** input1 / input2 ids from the parent's `inputs.json`, when present. */
  inputs: Map<string, number[]> | null;
}

/** Reads and validates a trajectory folder. Errors are {@link ConfigError}/{@link ShapeError} naming the file and field. */
export function readTrajectoryFolder(dir: string): TrajectoryFolder {
  const root = resolve(dir);
  const configFile = join(root, 'config.json');
  const raw = readJsonObject(configFile);
  const config = parseTrajectoryConfig(raw, configFile, dirname(root));
  const batches = parseBatches(readJsonObject(join(root, 'batches.json')), join(root, 'batches.json'), config.steps);
  const initial = readInitialAdapter(join(root, 'init_lora.safetensors'), config);
  const launch = parseLaunch(readJsonObject(join(root, 'launch.json')), join(root, 'launch.json'));
  const lossesFile = join(root, 'losses.json');
  const lossesRaw = readJsonObject(lossesFile);
  const losses = {
    lora: numberList(lossesRaw['lora'], lossesFile, 'lora', config.steps),
    loraDash: numberList(lossesRaw['lora_dash'], lossesFile, 'lora_dash', config.steps),
  };
  const optional = (name: string) => (existsSync(join(root, name)) ? join(root, name) : null);
  const tensorsOf = (name: string) => {
    const file = optional(name);
    return file === null ? null : readFloatTensors(file);
  };
  const dFile = optional('d_history.json');
  const inputsFile = existsSync(join(dirname(root), 'inputs.json')) ? join(dirname(root), 'inputs.json') : null;
  return {
    dir: root,
    config,
    batches,
    initial,
    launch,
    losses,
    finalLora: tensorsOf('final_lora.safetensors'),
    finalLoraDash: tensorsOf('final_lora_dash.safetensors'),
    finalLogits: tensorsOf('final_logits.safetensors'),
    dHistory: dFile === null ? null : parseDHistory(readJsonObject(dFile), dFile),
    inputs: inputsFile === null ? null : parseInputs(readJsonObject(inputsFile), inputsFile),
  };
}

function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`could not read trajectory file: ${(cause as Error).message}`, { file }, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`not valid JSON: ${(cause as Error).message}`, { file }, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError('expected a JSON object', { file });
  return value as Record<string, unknown>;
}

function field<T>(obj: Record<string, unknown>, key: string, file: string, check: (v: unknown) => v is T, what: string): T {
  const v = obj[key];
  if (!check(v)) throw new ConfigError(`field '${key}' must be ${what}, got ${JSON.stringify(v)}`, { file, field: key });
  return v;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/** Parses `config.json` (PEFT/torch field names); `base_model` is resolved against `parent`. */
export function parseTrajectoryConfig(raw: Record<string, unknown>, file: string, parent: string): TrajectoryConfig {
  const targetModules = field(raw, 'target_modules', file, (v): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'), 'a non-empty list of strings');
  const r = field(raw, 'r', file, isPositiveInt, 'a positive integer');
  const alpha = field(raw, 'lora_alpha', file, isNumber, 'a number');
  const s = field(raw, 'dash_directions_s', file, isPositiveInt, 'a positive integer');
  const t = field(raw, 'warmup_optimizer_steps', file, isPositiveInt, 'a positive integer');
  const steps = field(raw, 'steps', file, isPositiveInt, 'a positive integer');
  if (raw['lora_dropout'] !== undefined && raw['lora_dropout'] !== 0) {
    throw new ConfigError(`lora_dropout ${JSON.stringify(raw['lora_dropout'])} cannot be replayed deterministically; only 0 is supported`, { file, field: 'lora_dropout' });
  }
  if (raw['scaling'] !== undefined && Math.abs((raw['scaling'] as number) - alpha / r) > 1e-12) {
    throw new ConfigError(`scaling ${JSON.stringify(raw['scaling'])} is not lora_alpha / r = ${alpha / r}`, { file, field: 'scaling' });
  }
  const opt = field(raw, 'optimizer', file, (v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
  const typeName = String(opt['type'] ?? '');
  const type = /adamw$/i.test(typeName) ? 'adamw' : /adam$/i.test(typeName) ? 'adam' : null;
  if (type === null) throw new ConfigError(`optimizer.type '${typeName}' is not Adam or AdamW`, { file, field: 'optimizer.type' });
  const betas = opt['betas'] ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every(isNumber)) {
    throw new ConfigError(`optimizer.betas must be two numbers, got ${JSON.stringify(betas)}`, { file, field: 'optimizer.betas' });
  }
  const lr = field(opt, 'lr', file, isNumber, 'a number');
  const eps = opt['eps'] ?? 1e-8;
  const weightDecay = opt['weight_decay'] ?? 0;
  if (!isNumber(eps) || !isNumber(weightDecay)) throw new ConfigError('optimizer.eps and weight_decay must be numbers', { file, field: 'optimizer' });
  const base = raw['base_model'];
  return {
    baseModel: typeof base === 'string' ? (isAbsolute(base) ? base : resolve(parent, base)) : null,
    targetModules,
    r,
    alpha,
    s,
    t,
    steps,
    optimizer: { type, lr, beta1: betas[0] as number, beta2: betas[1] as number, eps, weightDecay },
  };
}

function parseBatches(raw: Record<string, unknown>, file: string, steps: number): number[][][] {
  const batches = raw['batches'];
  if (!Array.isArray(batches) || batches.length < steps) {
    throw new ConfigError(`'batches' must list at least ${steps} batches (config steps)`, { file, field: 'batches' });
  }
  const first = batches[0] as unknown;
  const rows = Array.isArray(first) ? first.length : 0;
  const seq = Array.isArray(first) && Array.isArray(first[0]) ? (first[0] as unknown[]).length : 0;
  batches.forEach((b: unknown, i) => {
    const ok = Array.isArray(b) && b.length === rows && b.every((row: unknown) => Array.isArray(row) && row.length === seq && row.every((x) => Number.isInteger(x) && x >= 0));
    if (!ok || seq < 2) throw new ShapeError(`batch ${i} is not a [${rows}, ${seq}] array of token ids (seq ≥ 2)`, { file, tensor: `batches[${i}]`, shape: [rows, seq] });
  });
  return batches as number[][][];
}

function numberList(v: unknown, file: string, key: string, length: number): number[] {
  if (!Array.isArray(v) || v.length < length || !v.every(isNumber)) {
    throw new ConfigError(`'${key}' must list at least ${length} finite numbers`, { file, field: key });
  }
  return v as number[];
}

/** Reads every float tensor of a safetensors file (F32/F16/BF16 widened to float32), by name. */
export function readFloatTensors(file: string): Map<string, RefTensor> {
  const st = parseSafetensors(readFileBytes(file), file);
  const out = new Map<string, RefTensor>();
  for (const [name, t] of st.tensors) out.set(name, { shape: [...t.shape], data: tensorToFloat32(t, name) });
  return out;
}

function readInitialAdapter(file: string, config: TrajectoryConfig): PeftAdapter {
  const tensors = readFloatTensors(file);
  const parts = new Map<string, { A?: RefTensor; B?: RefTensor }>();
  for (const [key, t] of tensors) {
    const parsed = parsePeftKey(key);
    if (parsed === undefined) throw new ConfigError(`unexpected tensor (expected base_model.model.<module>.lora_A/B.weight)`, { file, tensor: key });
    const entry = parts.get(parsed.module) ?? {};
    entry[parsed.part === 'lora_A' ? 'A' : 'B'] = t;
    parts.set(parsed.module, entry);
  }
  const modules = new Map<string, LoraFactors>();
  for (const [module, { A, B }] of parts) {
    if (A === undefined || B === undefined) throw new ConfigError('module has only one of lora_A / lora_B', { file, tensor: module });
    if (A.shape.length !== 2 || B.shape.length !== 2 || A.shape[0] !== config.r || B.shape[1] !== config.r) {
      throw new ShapeError(`lora_A ${JSON.stringify(A.shape)} / lora_B ${JSON.stringify(B.shape)} do not have rank r = ${config.r}`, { file, tensor: module, shape: A.shape });
    }
    modules.set(module, {
      A: { rows: A.shape[0] as number, cols: A.shape[1] as number, data: A.data },
      B: { rows: B.shape[0] as number, cols: B.shape[1] as number, data: B.data },
      scaling: config.alpha / config.r,
    });
  }
  if (modules.size === 0) throw new ConfigError('no initial factors', { file });
  return createPeftAdapter(modules, { r: config.r, lora_alpha: config.alpha, target_modules: config.targetModules });
}

function parseLaunch(raw: Record<string, unknown>, file: string): Map<string, ReferenceLaunch> {
  const modules = raw['modules'];
  if (typeof modules !== 'object' || modules === null) throw new ConfigError("'modules' must be an object", { file, field: 'modules' });
  const out = new Map<string, ReferenceLaunch>();
  for (const [name, v] of Object.entries(modules as Record<string, unknown>)) {
    const m = v as Record<string, unknown>;
    const topIndex = m['top_index'];
    const changeRate = m['change_rate'];
    if (!Array.isArray(topIndex) || !topIndex.every((x) => Number.isInteger(x)) || !Array.isArray(changeRate) || !changeRate.every(isNumber)) {
      throw new ConfigError('needs top_index (integers) and change_rate (numbers)', { file, tensor: name });
    }
    out.set(name, { topIndex: topIndex as number[], changeRate: changeRate as number[] });
  }
  return out;
}

function parseDHistory(raw: Record<string, unknown>, file: string): Record<string, number[]>[] {
  const list = raw['d_history'];
  if (!Array.isArray(list)) throw new ConfigError("'d_history' must be a list", { file, field: 'd_history' });
  return list as Record<string, number[]>[];
}

function parseInputs(raw: Record<string, unknown>, file: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const key of ['input1', 'input2']) {
    const ids = (raw[key] as Record<string, unknown> | undefined)?.['ids'];
    if (Array.isArray(ids) && ids.length > 0 && ids.every((x) => Number.isInteger(x))) out.set(key, ids as number[]);
    else if (raw[key] !== undefined) throw new ConfigError(`${key}.ids must be a list of token ids`, { file, field: key });
  }
  return out;
}
