import type { BenchTokenizer, ScoringModel, TokenRow } from '../model/types.js';

/** Names of the built-in tasks (plus `custom`, which reads user JSONL files). */
export const TASK_NAMES = ['shakespeare', 'tinystories-retention', 'sst2', 'addition', 'reversal', 'custom'] as const;

/** A task name accepted by `--tasks`. */
export type TaskName = (typeof TASK_NAMES)[number];

/** One metric a task reports, with the direction that counts as better. */
export interface MetricSpec {
  /** Key in `results.json` (`val_nll`, `accuracy`, …). */
  key: string;
  /** Short human label for tables and charts. */
  label: string;
  /** Whether a lower or a higher value is better. */
  better: 'lower' | 'higher';
  /** One sentence on exactly what is measured. */
  description: string;
}

/**
 * What a run trains on. `stream`: one long token sequence; each batch row is a
 * window of `seqLen` contiguous tokens drawn by the data-order RNG (BOS-free, as
 * in the reference trajectory). `rows`: prompt/completion examples, already
 * tokenized with the loss only on the completion.
 */
export type TrainingSource = { kind: 'stream'; ids: Int32Array } | { kind: 'rows'; rows: readonly TokenRow[] };

/** A task with its data loaded and tokenized for one model. */
export interface LoadedTask {
  name: TaskName;
  /** The headline metric (the one verdicts and charts use). */
  metric: MetricSpec;
  /** Further metrics recorded alongside (e.g. perplexity). */
  secondary: readonly MetricSpec[];
  train: TrainingSource;
  /** Where the data came from (file paths or URLs), for the report. */
  sources: readonly string[];
  /** Number of evaluation items (tokens for NLL tasks, examples otherwise). */
  evalSize: number;
  /** Evaluates `model`; the result holds the primary and every secondary key. */
  evaluate(model: ScoringModel): Promise<Record<string, number>>;
  /** Classification tasks scored by label: the label strings. */
  labels?: readonly string[];
  /** Classification tasks: the majority-class baseline on the eval set. */
  majorityClass?: { label: string; accuracy: number };
}

/** Sizes a preset chooses for a task (all deterministic, independent of the run seed). */
export interface TaskSizes {
  /** Tokens per training row for stream tasks and the cap for example rows. */
  seqLen: number;
  /** Max evaluation tokens for NLL tasks. */
  evalTokens: number;
  /** Max evaluation examples for sst2 and the synthetic tasks. */
  evalExamples: number;
  /** Training examples generated or read for example-based tasks. */
  trainExamples: number;
}

/** Locates a dataset file: the fixtures folder, then a cache, then a download. */
export type DatasetResolver = (id: DatasetId) => Promise<string>;

/** The real datasets the built-in tasks read. */
export type DatasetId = 'tinyshakespeare' | 'tinystories-val' | 'sst2-train' | 'sst2-dev';

/** Everything a task needs to load. */
export interface TaskContext {
  tokenizer: BenchTokenizer;
  sizes: TaskSizes;
  resolveDataset: DatasetResolver;
  /** `--data` and `--eval` JSONL files, for the custom task. */
  custom?: { train: string; eval: string };
}

/** A built-in task: its documentation and a loader. */
export interface TaskDefinition {
  name: TaskName;
  /** One paragraph for `--help` and the docs. */
  description: string;
  metric: MetricSpec;
  /** True when the task reads a real dataset (the quick preset needs at least one). */
  realData: boolean;
  load(ctx: TaskContext): Promise<LoadedTask>;
}
