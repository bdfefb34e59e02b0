import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NonFiniteError, Rng } from '@tsd-peft/core';
import { AdamOptimizer, type AdamConfig } from './adam.js';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import { directoryCheckpointStore } from '#platform';
import type { CheckpointStore } from './checkpoint-store.js';
import { clipCoefficient, globalNorm, gradientNorms } from './clip.js';
import type { DataSource, JsonValue } from './data-source.js';
import { accumulateGradients, type StepGradients } from './gradients.js';
import type { TrainableModel } from '../trainable.js';
import { ProgressMeter, type EvalRecord, type EvalResult, type ProgressEvent } from './progress.js';
import { constantLr, type LrSchedule } from './schedules.js';
import { captureCheckpoint, restoreCheckpoint, throwNonFiniteGradient, type LoopState } from './train-state.js';
import { prefetchHostValues } from '../backend/webgpu-host-reads.js';

/** What `lossFn` learns about the step it is building a loss for. */
export interface LossContext {
  /** 0-based index of the optimizer step. */
  step: number;
  /** 0-based micro-batch within the step (gradient accumulation). */
  microBatch: number;
  /** The trainer's seeded RNG (checkpointed), e.g. for dropout masks. */
  rng: Rng;
}

/** Checkpointing: into a folder (`dir`) or any {@link CheckpointStore}. */
export interface CheckpointOptions {
  /** Folder for `checkpoint-<step>.safetensors` files (Node only: in a browser a ConfigError says to pass `store`). */
  dir?: string;
  /** A custom store instead of `dir` (in a browser: one over OPFS or IndexedDB). */
  store?: CheckpointStore;
  /** Save after every `every` completed steps (and always after the last one). */
  every?: number;
  /** Checkpoints to keep in `dir` (default 1). */
  keepLast?: number;
}

/** Evaluation every `every` completed steps and after the last one. */
export interface EvalOptions {
  every: number;
  /** Must not draw from the training RNG or data source, so evaluating never changes training. */
  run: (step: number) => EvalResult | Promise<EvalResult>;
}

/** Options of {@link train}. */
export interface TrainOptions<B, C extends JsonValue = JsonValue> {
  /** What to train; its variable set may grow (state starts at a variable's first gradient). */
  model: TrainableModel;
  /** Builds the scalar loss of one batch through the model (inside the gradient tape). */
  lossFn: (batch: B, context: LossContext) => tf.Scalar;
  /** Batches, addressed by a resumable cursor. */
  data: DataSource<B, C>;
  /** Total optimizer steps. */
  steps: number;
  /** A constant learning rate or a schedule of the 0-based step. */
  lr: number | LrSchedule;
  /** Default `{ type: 'adam' }` with PyTorch's defaults. */
  optimizer?: AdamConfig;
  /** Clip the global gradient norm to this value (`clip_grad_norm_`); off by default. */
  clipGradNorm?: number;
  /** Micro-batches per optimizer step (default 1); the step's loss is their mean. */
  accumulationSteps?: number;
  /** Seed of the trainer's RNG (default 0). */
  seed?: number;
  checkpoint?: CheckpointOptions;
  /** Continue from the newest checkpoint in the store if there is one (default false). */
  resume?: boolean;
  evaluate?: EvalOptions;
  /** Called after every step; awaited, so a UI may throttle or a test may pace the run. */
  onProgress?: (event: ProgressEvent) => void | Promise<void>;
  /** Stops between steps; a checkpoint is written first when checkpointing is on. */
  signal?: AbortSignal;
  /**
   * Data-parallel hook (see `parallel/`): gets each step's gradients and
   * micro-batch losses right after the backward pass and returns the ones the
   * step uses (e.g. averaged over replicas), before the non-finite check,
   * clipping and the update. It owns its input: tensors it does not return it
   * must dispose.
   */
  combineGradients?: (gradients: StepGradients, step: number) => StepGradients | Promise<StepGradients>;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Loss of every completed step, resumed sessions included (index i = step i+1). */
  lossHistory: number[];
  evalHistory: EvalRecord[];
  completedSteps: number;
  /** The step the run resumed from, or null for a fresh run. */
  resumedFromStep: number | null;
  stopped: 'completed' | 'aborted';
  /** Location of the last checkpoint written in this session. */
  lastCheckpoint?: string;
}

/**
 * Trains `model` with Adam/AdamW (PyTorch semantics), an LR schedule, optional
 * global-norm clipping and gradient accumulation, emitting progress events,
 * evaluating and checkpointing on the way. Each step: draw k micro-batches from
 * the data source, take gradients over exactly `model.trainableVariables()`,
 * stop with {@link NonFiniteError} on a non-finite loss or gradient (before any
 * update, so no bad state is ever checkpointed), clip, update, record the
 * forward's loss, then call `afterOptimizerStep` (LoRA-Dash launches there).
 * A run resumed from a checkpoint continues bit for bit as if uninterrupted.
 */
export async function train<B, C extends JsonValue = JsonValue>(options: TrainOptions<B, C>): Promise<TrainResult> {
  const { model, data, steps, lossFn, signal } = options;
  const k = options.accumulationSteps ?? 1;
  const clip = options.clipGradNorm;
  const schedule = typeof options.lr === 'number' ? constantLr(options.lr) : options.lr;
  const every = options.checkpoint?.every;
  validate(options, k);
  const store = checkpointStore(options.checkpoint);

  const optimizer = new AdamOptimizer(options.optimizer ?? { type: 'adam' });
  const loop: LoopState = { step: 0, lossHistory: [], evalHistory: [], rng: Rng.fromSeed(options.seed ?? 0), cursor: data.start };
  let resumedFromStep: number | null = null;
  let elapsedBefore = 0;
  let lastCheckpoint: string | undefined;
  let savedStep = -1;
  try {
    const existing = store === undefined ? undefined : await store.latest();
    if (existing !== undefined) {
      if (options.resume !== true) {
        throw new ConfigError('the checkpoint folder already holds checkpoints; pass resume: true or use an empty folder', {
          file: existing.location,
        });
      }
      const checkpoint = decodeCheckpoint(existing.bytes, existing.location);
      if (checkpoint.step > steps) {
        throw new ConfigError(`checkpoint is at step ${checkpoint.step}, beyond steps=${steps}`, { file: existing.location });
      }
      restoreCheckpoint(model, optimizer, checkpoint, existing.location);
      Object.assign(loop, {
        step: checkpoint.step,
        lossHistory: checkpoint.lossHistory,
        evalHistory: checkpoint.evalHistory,
        rng: Rng.fromState(checkpoint.rng),
        cursor: checkpoint.cursor,
      });
      elapsedBefore = checkpoint.elapsedSeconds;
      resumedFromStep = savedStep = checkpoint.step;
    }

    const meter = new ProgressMeter(steps, elapsedBefore);
    const save = async (): Promise<string | undefined> => {
      if (store === undefined || savedStep === loop.step) return undefined;
      // GPU backends: await every value the (synchronous) capture reads; a no-op on wasm/cpu.
      await prefetchHostValues([...model.trainableVariables().values(), ...optimizer.stateTensors(), ...(model.hostReadsForState?.() ?? [])]);
      const bytes = encodeCheckpoint(captureCheckpoint(model, optimizer, loop, meter.elapsedSeconds()));
      lastCheckpoint = await store.save(loop.step, bytes);
      savedStep = loop.step;
      return lastCheckpoint;
    };

    let stopped: TrainResult['stopped'] = 'completed';
    while (loop.step < steps) {
      if (signal?.aborted === true) {
        stopped = 'aborted';
        break;
      }
      const stepIndex = loop.step;
      const lr = schedule(stepIndex);
      if (!Number.isFinite(lr) || lr < 0) throw new ConfigError(`the LR schedule returned ${lr} for step ${stepIndex}`);
      let tokens: number | null = data.tokens === undefined ? null : 0;
      const variables = model.trainableVariables();
      let { grads, losses } = accumulateGradients(variables, k, (microBatch) => {
        const next = data.next(loop.cursor as C, loop.rng);
        loop.cursor = next.cursor;
        if (tokens !== null && data.tokens !== undefined) tokens += data.tokens(next.batch);
        return lossFn(next.batch, { step: stepIndex, microBatch, rng: loop.rng });
      });
      if (options.combineGradients !== undefined) ({ grads, losses } = await options.combineGradients({ grads, losses }, stepIndex));
      const names = [...grads.keys()];
      const norms = gradientNorms(grads);
      const total = globalNorm(norms);
      let clipScale: tf.Scalar | undefined;
      let loss: number;
      let gradNorm: number;
      try {
        // One read-back per step: micro-batch losses, per-tensor norms, global norm.
        const probe = tf.tidy(() => tf.concat([tf.stack(losses), norms, tf.reshape(total, [1])]));
        const values = await probe.data();
        probe.dispose();
        loss = 0;
        for (let i = 0; i < k; i++) {
          const value = values[i] as number;
          if (!Number.isFinite(value)) {
            throw new NonFiniteError(`loss is ${value} in step ${stepIndex + 1}${k > 1 ? ` (micro-batch ${i})` : ''}; the run stopped before updating`, { tensor: 'loss' });
          }
          loss += value;
        }
        loss /= k;
        for (const [j, name] of names.entries()) {
          if (Number.isFinite(values[k + j] as number)) continue;
          await prefetchHostValues([grads.get(name)]);
          throwNonFiniteGradient(name, grads.get(name) as tf.Tensor, stepIndex + 1);
        }
        gradNorm = values[k + names.length] as number;
        if (clip !== undefined) clipScale = clipCoefficient(total, clip);
        optimizer.applyGradients(variables, grads, lr, clipScale);
      } finally {
        tf.dispose([...grads.values(), ...losses, norms, total, ...(clipScale === undefined ? [] : [clipScale])]);
      }

      loop.lossHistory.push(loss);
      loop.step += 1;
      meter.record(tokens);
      await prefetchHostValues(model.hostReadsAfterStep?.(loop.step) ?? []);
      model.afterOptimizerStep?.(loop.step);
      const resets = model.consumeResetRequests?.() ?? [];
      if (resets.length > 0) optimizer.resetState(resets);
      optimizer.retainOnly(new Set(model.trainableVariables().keys()));

      const event: ProgressEvent = {
        step: loop.step,
        totalSteps: steps,
        loss,
        lr,
        gradNorm,
        tokensPerSecond: meter.tokensPerSecond(tokens !== null),
        etaSeconds: meter.etaSeconds(loop.step),
        elapsedSeconds: meter.elapsedSeconds(),
      };
      if (options.evaluate !== undefined && (loop.step % options.evaluate.every === 0 || loop.step === steps)) {
        const evalStarted = performance.now();
        const result = await options.evaluate.run(loop.step);
        loop.evalHistory.push({ step: loop.step, result, seconds: (performance.now() - evalStarted) / 1000 });
        event.eval = result;
      }
      if ((every !== undefined && loop.step % every === 0) || loop.step === steps) {
        const location = await save();
        if (location !== undefined) event.checkpoint = location;
      }
      await options.onProgress?.(event);
    }
    if (stopped === 'aborted') await save();
    const result: TrainResult = {
      lossHistory: loop.lossHistory,
      evalHistory: loop.evalHistory,
      completedSteps: loop.step,
      resumedFromStep,
      stopped,
    };
    if (lastCheckpoint !== undefined) result.lastCheckpoint = lastCheckpoint;
    return result;
  } finally {
    optimizer.dispose();
  }
}

function validate<B, C extends JsonValue>(options: TrainOptions<B, C>, k: number): void {
  const positiveInt = (value: number | undefined, field: string) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new ConfigError(`${field} must be a positive integer, got ${value}`);
    }
  };
  if (!Number.isInteger(options.steps) || options.steps < 0) throw new ConfigError(`steps must be a non-negative integer, got ${options.steps}`);
  positiveInt(k, 'accumulationSteps');
  positiveInt(options.checkpoint?.every, 'checkpoint.every');
  positiveInt(options.evaluate?.every, 'evaluate.every');
  if (options.clipGradNorm !== undefined && !(options.clipGradNorm > 0 && Number.isFinite(options.clipGradNorm))) {
    throw new ConfigError(`clipGradNorm must be a finite positive number, got ${options.clipGradNorm}`);
  }
  if (options.checkpoint !== undefined && (options.checkpoint.dir === undefined) === (options.checkpoint.store === undefined)) {
    throw new ConfigError('checkpoint needs exactly one of dir or store');
  }
  if (options.resume === true && options.checkpoint === undefined) throw new ConfigError('resume: true needs checkpoint options');
}

function checkpointStore(options: CheckpointOptions | undefined): CheckpointStore | undefined {
  if (options === undefined) return undefined;
  if (options.store !== undefined) return options.store;
  const storeOptions = options.keepLast === undefined ? {} : { keepLast: options.keepLast };
  return directoryCheckpointStore(options.dir as string, storeOptions);
}
