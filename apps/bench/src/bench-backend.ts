import type { BenchTokenizer, ScoringModel } from './model/types.js';
import type { EvalPoint, GpuRunRecord, ModelInfo, RunConfig, TsdRecord } from './report/schema.js';
import type { LoadedTask } from './tasks/types.js';

/** What the runner asks of one training run. */
export interface TrainSpec {
  config: RunConfig;
  task: LoadedTask;
  /** Folder for this run's checkpoints; a checkpoint there is resumed. */
  checkpointDir: string;
  /** After every optimizer step (completed steps, 1-based). */
  onStep(step: number, loss: number): void;
  /** The run continues from a checkpoint at `step`. */
  onResume(step: number): void;
  /** Entering a phase such as "eval". */
  onPhase(name: string): void;
  /** Aborts between steps (after writing a checkpoint). */
  signal?: AbortSignal;
}

/** What a finished training run reports back. */
export interface TrainOutcome {
  /** Loss of every optimizer step, resumed sessions included. */
  lossHistory: number[];
  /** Evaluations during training (every `evalEvery` steps and after the last). */
  evalHistory: EvalPoint[];
  trainableParams: number;
  trainTimeSec: number;
  evalTimeSec: number;
  /** Counted target tokens trained on (all sessions). */
  tokens: number;
  resumedFromStep: number | null;
  /** True when the signal stopped the run before its last step. */
  aborted: boolean;
  tsd?: TsdRecord;
  /** On a GPU backend: MFU and peak GPU memory. */
  gpu?: GpuRunRecord;
}

/**
 * The seam between the bench (tasks, runner, reports) and the ML stack: a
 * loaded base model that can score text and train one adapter run at a time.
 * The real implementation sits on @tsd-peft/transformers and @tsd-peft/tfjs
 * (training/tfjs-bench-backend.ts); tests can use a small exact stand-in.
 */
export interface BenchBackend {
  model: ModelInfo;
  /** TF.js backend in use (cpu, wasm, …). */
  backendName: string;
  tokenizer: BenchTokenizer;
  /** The untrained model, for the baseline metrics. */
  base: ScoringModel;
  train(spec: TrainSpec): Promise<TrainOutcome>;
  dispose(): void;
}
