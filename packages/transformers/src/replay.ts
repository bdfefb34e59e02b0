import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, PEFT_PREFIX } from '@tsd-peft/core';
import { readFloat32, type AdapterModel, type ProgressEvent } from '@tsd-peft/tfjs';
import { loadCausalLM, type CausalLM } from './load-causal-lm.js';
import { check, firstDifferentStep, lossDifferences, maxAbsDiff, relativeDiff, REPLAY_TOLERANCES, worst, type ReplayCheck } from './replay-checks.js';
import { readTrajectoryFolder, type RefTensor, type TrajectoryConfig, type TrajectoryFolder } from './replay-files.js';
import type { TokenBatch } from './training/data.js';
import { fineTune, type FineTuneOptions } from './training/fine-tune.js';

/** The two recorded runs: plain LoRA and LoRA-Dash, from the same initial A/B and batches. */
export type ReplayRunName = 'lora' | 'lora_dash';

/** Options of {@link replayTrajectory}. */
export interface ReplayOptions {
  /** Base model folder (or id / .bin); default `config.base_model` resolved against the folder's parent. */
  base?: string;
  /** A model already loaded from the base (then `base` is only reported); the caller keeps ownership. */
  model?: CausalLM;
  /** After every optimizer step of either run. */
  onProgress?: (run: ReplayRunName, event: ProgressEvent) => void;
}

/** What one replayed run produced. */
export interface ReplayRun {
  name: ReplayRunName;
  /** Our per-step losses (forward before each update). */
  losses: number[];
  referenceLosses: number[];
  /** |ours − ref| per step. */
  lossDiffs: number[];
  /** LoRA-Dash: the selected direction indices (descending change rate) and all change rates, by module. */
  launch: Map<string, { selected: number[]; rates: number[] }>;
  /** Final trainable tensors by module: A [r, in], B [out, r], and d [s] for LoRA-Dash. */
  final: Map<string, { A: Float32Array; B: Float32Array; d?: Float32Array }>;
  /** Final logits `[T, vocab]` (flattened) on inputs.json input1 / input2, when that file exists. */
  logits: Map<string, Float32Array>;
  seconds: number;
}

/** A measured difference that is reported but not held to a tolerance. */
export interface ReplayMeasure {
  name: string;
  value: number;
  definition: string;
}

/** The result of {@link replayTrajectory}. */
export interface ReplayReport {
  dir: string;
  base: string;
  config: TrajectoryConfig;
  runs: Record<ReplayRunName, ReplayRun>;
  checks: ReplayCheck[];
  /** Informative differences (change rates at launch, d history, input1 logits, …). */
  measures: ReplayMeasure[];
  /** Reference comparisons not made because the folder lacks the file. */
  skipped: string[];
  passed: boolean;
}

/**
 * Replays a LoRA-Dash trajectory folder (the layout of
 * `shared/reference/lora-dash-trajectory`) on its base model: the plain-LoRA
 * run and the LoRA-Dash run from the folder's initial A/B, batches and Adam
 * settings (lr, betas, eps; t = `warmup_optimizer_steps`, s =
 * `dash_directions_s`, r / alpha / target modules from config.json), both
 * through {@link fineTune}. Compares per-step losses (≤ 1e-4), launch indices
 * (identical), final A/B/d (≤ 1e-3 relative, max|x−ref|/max|ref|) and final
 * logits on input2 (≤ 1e-3) with the folder's references.
 */
export async function replayTrajectory(dir: string, options: ReplayOptions = {}): Promise<ReplayReport> {
  const folder = readTrajectoryFolder(dir);
  const base = options.base ?? folder.config.baseModel;
  if (base === null && options.model === undefined) {
    throw new ConfigError('config.json has no base_model; pass --base <hf-model-dir>', { file: `${folder.dir}/config.json` });
  }
  const model = options.model ?? (await loadCausalLM(base as string, { tokenizer: false }));
  try {
    const lora = await replayRun(model, folder, 'lora', options.onProgress);
    const loraDash = await replayRun(model, folder, 'lora_dash', options.onProgress);
    const runs = { lora, lora_dash: loraDash };
    const { checks, measures, skipped } = compare(folder, runs);
    return { dir: folder.dir, base: base ?? model.source.location, config: folder.config, runs, checks, measures, skipped, passed: checks.every((c) => c.passed) };
  } finally {
    if (options.model === undefined) model.dispose();
  }
}

/** The reference batches as unpadded {@link TokenBatch}es (loss over all rows × (seq − 1) targets, as the reference). */
export function trajectoryBatch(batch: readonly (readonly number[])[]): TokenBatch {
  const rows = batch.length;
  const seq = (batch[0] as readonly number[]).length;
  const inputIds = new Int32Array(rows * seq);
  batch.forEach((row, i) => inputIds.set(row, i * seq));
  const lossMask = new Int32Array(rows * seq);
  for (let i = 0; i < rows; i++) lossMask.fill(1, i * seq + 1, (i + 1) * seq);
  return { batch: rows, seq, inputIds, attentionMask: new Int32Array(rows * seq).fill(1), lossMask, tokens: rows * (seq - 1) };
}

/**
 * The {@link fineTune} options that replay `run` of a trajectory folder on
 * `model`: its adapter settings (r, alpha, target modules, t, s), initial
 * A/B, batches, lr and Adam settings, for its first `steps` steps (default all
 * of `config.steps`). Shared by {@link replayTrajectory} and the WebGPU replay test.
 */
export function trajectoryFineTuneOptions(model: CausalLM, folder: TrajectoryFolder, run: ReplayRunName, extra: Pick<FineTuneOptions, 'onProgress'> & { steps?: number } = {}): FineTuneOptions {
  const { config } = folder;
  return {
    model,
    adapter: {
      method: run === 'lora' ? 'lora' : 'lora-dash',
      r: config.r,
      alpha: config.alpha,
      targetModules: config.targetModules,
      t: config.t,
      s: config.s,
    },
    initialAdapter: folder.initial,
    data: (i) => trajectoryBatch(folder.batches[i] as number[][]),
    steps: extra.steps ?? config.steps,
    lr: config.optimizer.lr,
    optimizer: {
      type: config.optimizer.type,
      beta1: config.optimizer.beta1,
      beta2: config.optimizer.beta2,
      eps: config.optimizer.eps,
      weightDecay: config.optimizer.weightDecay,
    },
    onProgress: extra.onProgress,
  };
}

async function replayRun(model: CausalLM, folder: TrajectoryFolder, name: ReplayRunName, onProgress: ReplayOptions['onProgress']): Promise<ReplayRun> {
  const started = performance.now();
  const losses: number[] = [];
  const { adapter } = await fineTune(
    trajectoryFineTuneOptions(model, folder, name, {
      onProgress: (event) => {
        losses.push(event.loss);
        onProgress?.(name, event);
      },
    }),
  );
  try {
    const referenceLosses = name === 'lora' ? folder.losses.lora : folder.losses.loraDash;
    return {
      name,
      losses,
      referenceLosses,
      lossDiffs: lossDifferences(losses, referenceLosses),
      launch: launchOf(adapter),
      final: await finalAdapterTensors(adapter),
      logits: await finalLogits(model, adapter, folder),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    adapter.dispose();
  }
}

function launchOf(adapter: AdapterModel): ReplayRun['launch'] {
  const out: ReplayRun['launch'] = new Map();
  for (const [module, info] of adapter.tsdSelections()) {
    if (info.dashSelected === undefined) continue;
    out.set(module, { selected: [...info.dashSelected], rates: [...(info.dashRates ?? [])] });
  }
  return out;
}

/**
 * A, B (and LoRA-Dash's d, once launched) of every target module, read with
 * awaited `data()` so it also works on the webgpu backend, where `dataSync()`
 * cannot read GPU buffers in Node.
 */
export async function finalAdapterTensors(adapter: AdapterModel): Promise<ReplayRun['final']> {
  const vars = adapter.trainableVariables();
  const read = async (key: string) => {
    const v = vars.get(key);
    return v === undefined ? undefined : readFloat32(v);
  };
  const out: ReplayRun['final'] = new Map();
  for (const module of adapter.targetModules) {
    const A = await read(`${module}.lora_A.weight`);
    const B = await read(`${module}.lora_B.weight`);
    if (A === undefined || B === undefined) throw new ConfigError('adapter has no lora_A/lora_B variables', { tensor: module });
    const d = await read(`${module}.dash_d`);
    out.set(module, d === undefined ? { A, B } : { A, B, d });
  }
  return out;
}

async function finalLogits(model: CausalLM, adapter: AdapterModel, folder: TrajectoryFolder): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [key, ids] of folder.inputs ?? []) {
    const logits = tf.tidy(() => model.forward({ inputIds: [ids] }, adapter));
    try {
      out.set(key, await readFloat32(logits));
    } finally {
      logits.dispose();
    }
  }
  return out;
}

function compare(folder: TrajectoryFolder, runs: Record<ReplayRunName, ReplayRun>): Pick<ReplayReport, 'checks' | 'measures' | 'skipped'> {
  const checks: ReplayCheck[] = [];
  const measures: ReplayMeasure[] = [];
  const skipped: string[] = [];
  const { loss: lossTol, relative: relTol, logits: logitsTol } = REPLAY_TOLERANCES;
  for (const run of Object.values(runs)) {
    const w = worst(run.lossDiffs.map((d, i) => [`step ${i}`, d]));
    const missing = run.losses.length !== folder.config.steps;
    checks.push(check(`loss.${run.name}`, missing ? Number.POSITIVE_INFINITY : w.value, lossTol, `max over ${folder.config.steps} steps of |loss − ref| (worst: ${w.name || 'none'})`));
  }

  const dash = runs.lora_dash;
  const mismatched: string[] = [];
  for (const [module, ref] of folder.launch) {
    const ours = dash.launch.get(module)?.selected ?? [];
    if (ours.join(',') !== ref.topIndex.join(',')) mismatched.push(`${module}: [${ours.join(', ')}] vs ref [${ref.topIndex.join(', ')}]`);
  }
  for (const module of dash.launch.keys()) if (!folder.launch.has(module)) mismatched.push(`${module}: launched but not in launch.json`);
  checks.push(check('launch.indices', mismatched.length, 0, `modules whose selected indices (in order) differ from launch.json${mismatched.length > 0 ? `: ${mismatched.join('; ')}` : ''}`));
  const rates = worst([...folder.launch].map(([m, ref]) => [m, relativeDiff(dash.launch.get(m)?.rates ?? [], ref.changeRate)]));
  measures.push({ name: 'launch.change_rate', value: rates.value, definition: `max|rate − ref| / max|ref|, worst module ${rates.name}` });

  for (const [run, ref] of [
    [runs.lora, folder.finalLora],
    [dash, folder.finalLoraDash],
  ] as const) {
    if (ref === null) {
      skipped.push(`final.${run.name} (no final_${run.name}.safetensors)`);
      continue;
    }
    const parts: ('A' | 'B' | 'd')[] = run.name === 'lora' ? ['A', 'B'] : ['A', 'B', 'd'];
    for (const part of parts) {
      const suffix = part === 'A' ? 'lora_A.weight' : part === 'B' ? 'lora_B.weight' : 'dash_d';
      const w = worst(
        [...run.final].map(([m, t]) => {
          const refT: RefTensor | undefined = ref.get(`${PEFT_PREFIX}${m}.${suffix}`);
          const ours = t[part];
          return [m, refT === undefined || ours === undefined ? Number.POSITIVE_INFINITY : relativeDiff(ours, refT.data)];
        }),
      );
      checks.push(check(`final.${run.name}.${part}`, w.value, relTol, `max|x − ref| / max|ref| per tensor, worst module ${w.name}`));
    }
  }

  if (folder.finalLogits === null || folder.inputs === null) {
    skipped.push('logits (no final_logits.safetensors or ../inputs.json)');
  } else {
    for (const run of Object.values(runs)) {
      for (const [input, ours] of run.logits) {
        const ref = folder.finalLogits.get(`${run.name}.${input}`);
        if (ref === undefined) continue;
        const diff = maxAbsDiff(ours, ref.data);
        if (input === 'input2') checks.push(check(`logits.${run.name}.${input}`, diff, logitsTol, 'max |logit − ref| over all positions'));
        else measures.push({ name: `logits.${run.name}.${input}`, value: diff, definition: 'max |logit − ref| over all positions' });
      }
    }
  }

  if (folder.dHistory !== null) {
    const hist = folder.dHistory;
    const final = hist[hist.length - 1] ?? {};
    const w = worst(Object.entries(final).map(([m, d]) => [m, maxAbsDiff(dash.final.get(m)?.d ?? [], d)]));
    measures.push({ name: 'd_history.last', value: w.value, definition: `max |d − last d_history entry|, worst module ${w.name}` });
  }
  const split = firstDifferentStep(runs.lora.losses, dash.losses);
  measures.push({ name: 'first_step_lora_vs_dash_differ', value: split, definition: `first 0-based step whose LoRA and LoRA-Dash losses differ bitwise (t = ${folder.config.t})` });
  return { checks, measures, skipped };
}
