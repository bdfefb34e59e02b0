import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, FROZEN_DTYPES, isFrozenDtype, type FrozenDtype, type JsonObject } from '@tsd-peft/core';
import { saveNativeAdapter, savePeftAdapter, withFolderLock, writeFileAtomic } from '@tsd-peft/core/node';
import {
  ADAPTER_DEFAULTS,
  moduleOfWeight,
  selectTargetModules,
  setupBackend,
  ADAPTER_METHODS,
  baseWeightShape,
  isDenseMethod,
  variantFor,
  type AdapterConfig,
  type AdapterMethod,
  type AdapterModel,
  type BackendName,
  type TrainResult,
} from '@tsd-peft/tfjs';
import { directoryCheckpointStore, trainDataParallel } from '@tsd-peft/tfjs/node';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { isGpt2Conv1dModule } from '../models/gpt2.js';
import type { FineTuneReplicaOptions } from '../parallel/fine-tune-job.js';
import { BatchSource, type TokenBatch } from '../training/data.js';
import { fineTune, meanLoss, type ScheduleName } from '../training/fine-tune.js';
import { evaluationBatches, padIdOf, readJsonlExamples } from '../training/jsonl-data.js';
import { progressPrinter } from '../training/progress-line.js';
import { numberOption, parseCommandArgs, required, type Command, type CommandIo } from './command.js';

const METHODS = ADAPTER_METHODS;
const SCHEDULES: readonly ScheduleName[] = ['constant', 'linear', 'cosine'];

/** `tsd-peft train`: fine-tune a causal LM on JSONL data and write PEFT + native adapters, checkpoints and losses. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'fine-tune a causal LM on JSONL data (LoRA, LoRA-Dash, …)',
  help: `Usage: tsd-peft train --model <id|dir|.bin> --data <train.jsonl> --steps <n> --out <dir> [options]

Trains adapters on a Hugging Face causal LM in TF.js. Each JSONL line is {"text": ...}
(loss on every token) or {"prompt": ..., "completion": ...} (loss on the completion only).
Writes <out>/adapter/ (PEFT: plain LoRA relative to the original weights, loadable by
Python PEFT and 'tsd-peft export'), <out>/adapter-native.safetensors (lossless state),
<out>/checkpoints/ and <out>/losses.json. Progress goes to stderr.

Options:
  --model <m>            HF folder, hub id, transformers.js ONNX folder or llama2.c .bin
  --tokenizer <dir|id>   tokenizer, when the model has none (llama2.c .bin)
  --data <file>          training JSONL
  --eval <file>          evaluation JSONL (mean token NLL every --eval-every steps)
  --method <name>        ${METHODS.join(' | ')} (default lora)
  --r <n>                rank (default ${ADAPTER_DEFAULTS.r})
  --alpha <x>            lora_alpha (default ${ADAPTER_DEFAULTS.alpha}, PEFT's; scaling alpha/r)
  --rslora               rsLoRA scaling alpha/√r
  --target-modules <l>   comma list of module suffixes, or all-linear (default ${ADAPTER_DEFAULTS.targetModules.join(',')})
  --t <n>                LoRA-Dash/Init/TSD pre-launch optimizer steps (default ${ADAPTER_DEFAULTS.t})
  --s <n>                LoRA-Dash directions (default ${ADAPTER_DEFAULTS.s})
  --steps <n>            optimizer steps
  --lr <x>               peak learning rate (default 1e-3)
  --schedule <name>      constant | linear | cosine (default constant)
  --warmup <n>           warm-up steps for linear/cosine (default 0)
  --optimizer <name>     adam | adamw (default adam)
  --weight-decay <x>     weight decay (default 0)
  --clip <x>             clip the global gradient norm
  --accumulation <n>     micro-batches per optimizer step (default 1)
  --batch-size <n>       examples per micro-batch (default 8)
  --seq-len <n>          truncate examples to n tokens (default 256)
  --seed <n>             adapter init and data order (default 0)
  --eval-every <n>       steps between evaluations (default steps/5)
  --checkpoint-every <n> steps between checkpoints (default steps/10; the last step always)
  --out <dir>            output folder
  --resume               continue from the last checkpoint in <out>/checkpoints
  --backend <name>       TF.js backend (default: tensorflow if installed, else wasm)
  --workers <n|auto>     data-parallel worker threads on the CPU backends (default 1;
                         auto: one per core); results equal one worker's within fp32 rounding
  --frozen-dtype <dtype> frozen base weights as float32 (default), bfloat16 or int8
                         (adapters, gradients and optimizer state stay fp32)

Example:
  tsd-peft train --model ./stories260K --data train.jsonl --eval val.jsonl \\
    --method lora-dash --r 8 --alpha 16 --t 100 --s 8 --steps 400 --lr 1e-3 --out runs/dash`,
  async run(argv, io) {
    const plan = parseTrainPlan(argv);
    // The lock comes first: the checkpoint check below and every write after it must see one run only.
    await withFolderLock(plan.out, 'tsd-peft train', async () => {
      await refuseExistingCheckpoints(plan);
      await (plan.workers > 1 ? runDataParallel(plan, io) : runOneProcess(plan, io));
    });
  },
};

/** The trainer would refuse too, in API terms (`resume: true`); this says it in the CLI's. */
async function refuseExistingCheckpoints(plan: TrainPlan): Promise<void> {
  if (plan.resume) return;
  const existing = await directoryCheckpointStore(join(plan.out, 'checkpoints')).latest();
  if (existing !== undefined) {
    throw new ConfigError(`--out ${plan.out} holds checkpoints of an earlier run; add --resume to continue it, or choose another --out`, {
      file: existing.location,
    });
  }
}

async function runOneProcess(plan: TrainPlan, io: CommandIo): Promise<void> {
  const backend = await setupBackend(plan.backend);
  const prepared = await prepareRun(plan);
  try {
    io.err.write(banner(plan, `${prepared.model.modelType}, ${backend}`, prepared.examples));
    const { adapter, result } = await fineTune({ ...fineTuneOptionsOf(plan, prepared), data: prepared.source, onProgress: progressPrinter(io.err) });
    try {
      report(io, result, writeOutputs(plan, adapter, result));
    } finally {
      adapter.dispose();
    }
  } finally {
    prepared.model.dispose();
  }
}

/** Everything `train` was asked to do, as plain data (it is also what data-parallel workers receive). */
export interface TrainPlan {
  modelId: string;
  tokenizer?: string;
  dataFile: string;
  evalFile?: string;
  out: string;
  steps: number;
  adapter: AdapterConfig;
  lr: number;
  schedule: ScheduleName;
  warmup: number;
  optimizer: { type: 'adam' | 'adamw'; weightDecay: number };
  clip?: number;
  accumulation: number;
  batchSize: number;
  seqLen: number;
  seed: number;
  evalEvery: number;
  checkpointEvery: number;
  resume: boolean;
  backend?: BackendName;
  workers: number;
  /** Element type of the frozen base weights (`loadCausalLM`'s `frozenDtype`); absent: float32. */
  frozenDtype?: FrozenDtype;
}

function parseTrainPlan(argv: string[]): TrainPlan {
  const { values } = parseCommandArgs('train', argv, {
    model: { type: 'string' },
    tokenizer: { type: 'string' },
    data: { type: 'string' },
    eval: { type: 'string' },
    method: { type: 'string', default: 'lora' },
    r: { type: 'string' },
    alpha: { type: 'string' },
    rslora: { type: 'boolean', default: false },
    'target-modules': { type: 'string' },
    t: { type: 'string' },
    s: { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    schedule: { type: 'string', default: 'constant' },
    warmup: { type: 'string' },
    optimizer: { type: 'string', default: 'adam' },
    'weight-decay': { type: 'string' },
    clip: { type: 'string' },
    accumulation: { type: 'string' },
    'batch-size': { type: 'string' },
    'seq-len': { type: 'string' },
    seed: { type: 'string' },
    'eval-every': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    out: { type: 'string' },
    resume: { type: 'boolean', default: false },
    backend: { type: 'string' },
    workers: { type: 'string', default: '1' },
    'frozen-dtype': { type: 'string' },
  });
  const num = (name: string, fallback: number, integer = false) => numberOption('train', values, name, fallback, integer);
  const modelId = required('train', values, 'model');
  const dataFile = resolve(required('train', values, 'data'));
  const out = resolve(required('train', values, 'out'));
  if (values.steps === undefined) throw new ConfigError('missing --steps');
  const steps = num('steps', 0, true);
  const method = values.method as AdapterMethod;
  if (!METHODS.includes(method)) throw new ConfigError(`unknown --method '${String(values.method)}'; choose one of ${METHODS.join(', ')}`);
  const schedule = values.schedule as ScheduleName;
  if (!SCHEDULES.includes(schedule)) throw new ConfigError(`unknown --schedule '${String(values.schedule)}'; choose one of ${SCHEDULES.join(', ')}`);
  const optimizerType = values.optimizer;
  if (optimizerType !== 'adam' && optimizerType !== 'adamw') throw new ConfigError(`--optimizer must be adam or adamw, got '${String(optimizerType)}'`);
  const r = num('r', ADAPTER_DEFAULTS.r, true);
  const batchSize = num('batch-size', 8, true);
  const seqLen = num('seq-len', 256, true);
  const seed = num('seed', 0, true);
  const accumulation = num('accumulation', 1, true);
  const warmup = num('warmup', 0, true);
  const workers = values.workers === 'auto' ? availableParallelism() : num('workers', 1, true);
  for (const [name, v, min] of [
    ['steps', steps, 1],
    ['batch-size', batchSize, 1],
    ['seq-len', seqLen, 2],
    ['accumulation', accumulation, 1],
    ['warmup', warmup, 0],
    ['workers', workers, 1],
  ] as const) {
    if (v < min) throw new ConfigError(`--${name} must be ≥ ${min}, got ${v}`);
  }
  if (workers > batchSize) throw new ConfigError(`--workers ${workers} exceeds --batch-size ${batchSize}; each worker trains whole rows of a batch`);
  const frozenDtype = values['frozen-dtype'];
  if (frozenDtype !== undefined && !isFrozenDtype(frozenDtype)) throw new ConfigError(`--frozen-dtype must be one of ${FROZEN_DTYPES.join(', ')}, got '${String(frozenDtype)}'`);
  if (isDenseMethod(method) && frozenDtype !== undefined && frozenDtype !== 'float32') {
    throw new ConfigError(`--method ${method} trains the base weights themselves, which needs --frozen-dtype float32 (got ${frozenDtype})`);
  }
  const evalFile = typeof values.eval === 'string' ? resolve(values.eval) : undefined;
  for (const file of [dataFile, evalFile]) if (file !== undefined && !existsSync(file)) throw new ConfigError('no such data file', { file });
  const targets = typeof values['target-modules'] === 'string' ? values['target-modules'] : isDenseMethod(method) ? 'all-linear' : ADAPTER_DEFAULTS.targetModules.join(',');
  return {
    modelId,
    ...(typeof values.tokenizer === 'string' ? { tokenizer: values.tokenizer } : {}),
    dataFile,
    ...(evalFile === undefined ? {} : { evalFile }),
    out,
    steps,
    adapter: {
      method,
      r,
      alpha: num('alpha', ADAPTER_DEFAULTS.alpha),
      useRslora: values.rslora === true,
      targetModules:
        targets === 'all-linear'
          ? 'all-linear'
          : targets
              .split(',')
              .map((m) => m.trim())
              .filter((m) => m !== ''),
      seed,
      t: num('t', ADAPTER_DEFAULTS.t, true),
      s: num('s', ADAPTER_DEFAULTS.s, true),
    },
    lr: num('lr', 1e-3),
    schedule,
    warmup,
    optimizer: { type: optimizerType, weightDecay: num('weight-decay', 0) },
    ...(values.clip === undefined ? {} : { clip: num('clip', 1) }),
    accumulation,
    batchSize,
    seqLen,
    seed,
    evalEvery: num('eval-every', Math.max(1, Math.floor(steps / 5)), true),
    checkpointEvery: num('checkpoint-every', Math.max(1, Math.floor(steps / 10)), true),
    resume: values.resume === true,
    ...(typeof values.backend === 'string' ? { backend: values.backend as BackendName } : {}),
    workers,
    ...(frozenDtype === undefined ? {} : { frozenDtype }),
  };
}

/** The loaded model and the data of a run. */
export interface PreparedRun {
  model: CausalLM;
  source: BatchSource;
  evalBatches: TokenBatch[];
  examples: number;
}

/** Loads the model and reads the data of `plan` (the backend is set up by the caller). */
export async function prepareRun(plan: TrainPlan): Promise<PreparedRun> {
  const model = await loadCausalLM(plan.modelId, {
    ...(plan.tokenizer === undefined ? {} : { tokenizer: plan.tokenizer }),
    ...(plan.frozenDtype === undefined ? {} : { frozenDtype: plan.frozenDtype }),
  });
  try {
    const tokenizer = model.tokenizer;
    if (tokenizer === null) throw new ConfigError('the model has no tokenizer.json; pass --tokenizer <folder or hub id>', { file: plan.modelId });
    // Fail on unknown target modules before reading data (the error lists the available modules).
    selectTargetModules(
      [...model.weights].filter(([, t]) => baseWeightShape(t).length === 2).map(([name]) => moduleOfWeight(name)),
      plan.adapter.targetModules ?? ADAPTER_DEFAULTS.targetModules,
    );
    const padId = padIdOf(tokenizer);
    const train = readJsonlExamples(plan.dataFile, tokenizer, { seqLen: plan.seqLen });
    const evalBatches = plan.evalFile === undefined ? [] : evaluationBatches(readJsonlExamples(plan.evalFile, tokenizer, { seqLen: plan.seqLen }), plan.batchSize, padId);
    const source = new BatchSource(train, { batchSize: Math.min(plan.batchSize, train.length), seed: plan.seed, padId });
    return { model, source, evalBatches, examples: train.length };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** `fineTune`'s options for `plan` (without data and progress, which differ between one process and workers). */
export function fineTuneOptionsOf(plan: TrainPlan, prepared: PreparedRun): Omit<FineTuneReplicaOptions, 'data'> {
  const { model, evalBatches } = prepared;
  return {
    model,
    adapter: plan.adapter,
    steps: plan.steps,
    lr: plan.lr,
    schedule: plan.schedule,
    ...(plan.schedule === 'constant' ? {} : { warmupSteps: plan.warmup }),
    optimizer: plan.optimizer,
    ...(plan.clip === undefined ? {} : { clipGradNorm: plan.clip }),
    accumulationSteps: plan.accumulation,
    seed: plan.seed,
    checkpoint: { dir: join(plan.out, 'checkpoints'), every: plan.checkpointEvery },
    resume: plan.resume,
    ...(evalBatches.length === 0 ? {} : { evaluate: { every: plan.evalEvery, run: ({ adapter }) => ({ eval_loss: meanLoss(model, evalBatches, adapter) }) } }),
  };
}

/** Writes the PEFT adapter, the native adapter and losses.json of a finished run; returns the paths written. */
export function writeOutputs(plan: TrainPlan, adapter: AdapterModel, result: TrainResult): string[] {
  const { modelId, out, adapter: config, steps, seed, dataFile } = plan;
  const hyper: JsonObject = { method: config.method, r: config.r ?? null, alpha: config.alpha ?? null, steps, seed, data: dataFile };
  const targets = [...adapter.slotEntries()].map(([name]) => name);
  const conv1d = targets.length > 0 && targets.every(isGpt2Conv1dModule);
  savePeftAdapter(join(out, 'adapter'), adapter.toPeftAdapter({ baseModel: modelId, fanInFanOut: conv1d }));
  const written = [join(out, 'adapter')];
  if (variantFor(config.method).saveState !== undefined) {
    saveNativeAdapter(join(out, 'adapter-native.safetensors'), adapter.toNativeAdapter({ baseModel: modelId, extra: hyper }));
    written.push(join(out, 'adapter-native.safetensors'));
  }
  const losses = {
    model: modelId,
    ...hyper,
    completed_steps: result.completedSteps,
    resumed_from_step: result.resumedFromStep,
    loss: result.lossHistory,
    eval: result.evalHistory,
    tsd: Object.fromEntries([...adapter.tsdSelections()].map(([m, info]) => [m, { dash: info.dashSelected ? [...info.dashSelected] : null, init: info.initSelected ? [...info.initSelected] : null }])),
  };
  writeFileAtomic(join(out, 'losses.json'), `${JSON.stringify(losses, null, 1)}\n`);
  written.push(join(out, 'losses.json'));
  return written;
}

function banner(plan: TrainPlan, where: string, examples: number | null): string {
  const { method, r } = plan.adapter;
  const workers = plan.workers > 1 ? `, ${plan.workers} workers` : '';
  return `train: ${plan.modelId} (${where}${workers}), ${method} r=${r ?? 0}${examples === null ? '' : `, ${examples} examples`}, ${plan.steps} steps${plan.resume ? ', resuming' : ''}\n`;
}

function report(io: CommandIo, result: Pick<TrainResult, 'completedSteps' | 'resumedFromStep' | 'lossHistory'>, written: readonly string[]): void {
  const last = result.lossHistory[result.lossHistory.length - 1];
  io.out(
    `trained ${result.completedSteps} steps${result.resumedFromStep === null ? '' : ` (resumed from step ${result.resumedFromStep})`}; final loss ${last === undefined ? 'n/a' : last.toFixed(4)}`,
  );
  for (const file of written) io.out(`wrote ${file}`);
}

/**
 * `--workers N`: N worker threads (train-worker.ts), each with its own wasm
 * backend and model, train the rows of every batch data-parallel
 * (`fineTuneReplicaJob`); rank 0 writes checkpoints and the outputs.
 */
async function runDataParallel(plan: TrainPlan, io: CommandIo): Promise<void> {
  if (plan.backend !== undefined && plan.backend !== 'wasm' && plan.backend !== 'cpu') {
    throw new ConfigError(`--workers runs on the CPU backends (wasm, cpu), not '${plan.backend}'; use one worker there`);
  }
  io.err.write(banner(plan, plan.backend ?? 'wasm', null));
  const result = await trainDataParallel({ worker: trainWorkerScript(), workers: plan.workers, workerData: plan, onProgress: progressPrinter(io.err) });
  report(io, result, (result.outputs[0] as { written: string[] }).written);
}

/** The built worker module beside this one (dist/train-worker.js). */
function trainWorkerScript(): string {
  const script = fileURLToPath(new URL('./train-worker.js', import.meta.url));
  if (!existsSync(script)) throw new ConfigError('the data-parallel worker module is missing (run the package build)', { file: script });
  return script;
}
