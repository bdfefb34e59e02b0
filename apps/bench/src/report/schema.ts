/**
 * The `results.json` schema (version 1). One file per `--out` folder; the
 * runner rewrites it atomically after every finished run, so it is always a
 * complete, valid document. Every number is a plain JSON number; metrics
 * that could not be computed are recorded as `null` (JSON has no NaN).
 * docs/bench.md documents every field.
 */

import type { AdapterMethod } from '@tsd-peft/tfjs';

/** The value of `schema` in every results file. */
export const RESULTS_SCHEMA = 'tsd-bench/results';
/** Bumped on any incompatible change; readers reject other versions. */
export const RESULTS_SCHEMA_VERSION = 1;

/** A method name accepted by `--methods`: one of `@tsd-peft/tfjs`'s registry (see `benchMethods()`). */
export type MethodName = AdapterMethod;

/** A metric and its direction, as the task defines it. */
export interface MetricInfo {
  key: string;
  label: string;
  better: 'lower' | 'higher';
  description: string;
}

/** One task of the bench, with its data sources and the untrained model's metrics. */
export interface TaskInfo {
  name: string;
  metric: MetricInfo;
  secondary: MetricInfo[];
  sources: string[];
  /** Evaluation tokens (NLL tasks) or examples. */
  evalSize: number;
  /** Metrics of the base model before any training (the zero-step reference). */
  baseline: Record<string, number | null>;
  /** Classification tasks (a labelled custom file): always predicting the most frequent training label, and its eval accuracy. */
  majorityClass?: { label: string; accuracy: number | null };
}

/** The model every run starts from. */
export interface ModelInfo {
  /** What `--model` resolved to (path or hub id). */
  id: string;
  /** How it was found: `--model`, `fixtures` or `hub-cache`. */
  source: string;
  /** Total parameters of the base model. */
  parameters: number;
}

/** Everything that determines a run. */
export interface RunConfig {
  task: string;
  method: MethodName;
  r: number;
  alpha: number;
  /** LoRA-Dash launch step (pre-launch phase length, Si et al. §4). */
  t: number;
  /** Number of task-specific directions. */
  s: number;
  seed: number;
  steps: number;
  lr: number;
  batchSize: number;
  seqLen: number;
  targetModules: string[];
  optimizer: string;
  schedule: string;
  warmupSteps: number;
  evalEvery: number;
  backend: string;
}

/** The directions a TSD method selected in one module. */
export interface TsdModule {
  /** HF module path, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  /** Selected direction indices (into σ sorted descending), in selection order (LoRA-Dash's launch; LoRA-Init's init). */
  indices: number[];
  /**
   * Change rates of the selected directions, same order (eq. 3 of Si et al.);
   * null for a non-finite rate (σᵢ = 0).
   */
  changeRates: Array<number | null>;
  /** Change rates of every direction, index order; recorded while a run's spectra stay small. */
  spectrum?: Array<number | null>;
  /** LoRA-TSD: the r directions its LoRA-Init part initialised from. */
  initIndices?: number[];
}

/** TSD selection of one run. */
export interface TsdRecord {
  /** Optimizer steps after which the directions were chosen (t for LoRA-Dash and LoRA-Init, 2t for LoRA-TSD's Dash part). */
  selectedAtStep: number;
  modules: TsdModule[];
}

/** A metric snapshot at one evaluation point. */
export interface EvalPoint {
  step: number;
  metrics: Record<string, number | null>;
}

/** One finished (or failed) run: a (task, method, r, seed). */
export interface RunRecord {
  /** `task/method/r<r>/seed<seed>`: unique in a file, the resume key. */
  key: string;
  status: 'done' | 'failed';
  /** For failed runs: the error, one line. */
  error?: string;
  config: RunConfig;
  /** Primary metric key (the task's). */
  primary: string;
  final: Record<string, number | null>;
  /** Metrics at the evaluation point where the primary metric was best. */
  best: Record<string, number | null>;
  bestStep: number;
  evalCurve: EvalPoint[];
  /** Training loss per optimizer step (mean over the batch's counted tokens). */
  lossCurve: Array<{ step: number; loss: number | null }>;
  trainableParams: number;
  /** Seconds from start to the end of the final evaluation (this process only when resumed). */
  wallTimeSec: number;
  trainTimeSec: number;
  evalTimeSec: number;
  /** Counted target tokens per second of training time. */
  tokensPerSec: number;
  /** Peak resident set size of the process during the run, MiB. */
  peakRssMiB: number;
  /** GPU backends only: throughput against the adapter's own measured matmul peak. */
  gpu?: GpuRunRecord;
  /** Step the run resumed from (absent when it ran in one go). */
  resumedFromStep?: number;
  tsd?: TsdRecord;
}

/** What a run on a GPU backend (webgpu) adds. */
export interface GpuRunRecord {
  /** Peak GPU memory of the run (live tensors + tfjs's buffer pool), MiB. */
  peakMemoryMiB: number;
  /** Model FLOP/s over the training time (matmul FLOPs of every processed token), in GFLOP/s. */
  modelGflops: number;
  /** The adapter's fp32 matmul peak measured at the start of the bench, GFLOP/s. */
  matmulPeakGflops: number;
  /** modelGflops / matmulPeakGflops. */
  mfu: number;
  /** The adapter is a software rasteriser (llvmpipe, SwiftShader): the numbers say nothing about GPUs. */
  softwareAdapter: boolean;
}

/** The whole results file. */
export interface ResultsFile {
  schema: typeof RESULTS_SCHEMA;
  schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  createdAt: string;
  updatedAt: string;
  preset: string;
  model: ModelInfo;
  tasks: TaskInfo[];
  environment: { node: string; platform: string; cpus: number; backend: string; package: string };
  runs: RunRecord[];
}

/** The resume key of a run. */
export function runKey(c: Pick<RunConfig, 'task' | 'method' | 'r' | 'seed'>): string {
  return `${c.task}/${c.method}/r${c.r}/seed${c.seed}`;
}

/** A finite number, or null for NaN/±Infinity (JSON cannot hold them). */
export function jsonNumber(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
