import { ConfigError } from '@tsd-peft/core';
import type { AdapterModel, TrainResult } from '@tsd-peft/tfjs';
import type { ReplicaContext, ReplicaJob } from '@tsd-peft/tfjs/node';
import type { TokenBatch } from '../training/data.js';
import { resolvedAdapterConfig, resolveSchedule, type FineTuneOptions } from '../training/fine-tune.js';
import { causalLmReplicaJob } from './causal-lm-job.js';

/** {@link fineTuneReplicaJob}'s options: `fineTune`'s, for a data source addressed by batch index. */
export interface FineTuneReplicaOptions extends Omit<FineTuneOptions<number>, 'data' | 'onProgress' | 'signal'> {
  /** The GLOBAL batch at each index (every replica keeps its rows); must be a pure function of the index. */
  data: ((index: number) => TokenBatch) | { batchAt(index: number): TokenBatch };
  /** What each rank returns when training ends (e.g. rank 0 saves the adapter). */
  collect?: (result: TrainResult, adapter: AdapterModel) => unknown;
}

/**
 * `fineTune` as one data-parallel replica, for a worker module's
 * `serveDataParallelWorker(setup)`: the same adapter injection, schedule,
 * seed, optimizer, checkpoints and evaluation (on rank 0) as `fineTune`, on
 * this replica's rows of each global batch (`causalLmReplicaJob`). Every
 * worker loads its own `model`; the job frees the adapter, not the model.
 *
 * ```ts
 * // worker.mjs
 * serveDataParallelWorker(async (ctx) => fineTuneReplicaJob(ctx, { model: await loadCausalLM(dir), adapter, data, steps, lr }));
 * // main.mjs
 * await trainDataParallel({ worker: new URL('./worker.mjs', import.meta.url), workers: 2, onProgress });
 * ```
 */
export function fineTuneReplicaJob(context: ReplicaContext, options: FineTuneReplicaOptions): ReplicaJob<TokenBatch, number> {
  const { model, data } = options;
  const batchAt = typeof data === 'function' ? data : 'batchAt' in data ? (index: number) => data.batchAt(index) : null;
  if (batchAt === null) throw new ConfigError('fineTuneReplicaJob: data must be a function of the batch index or have batchAt(index)', { field: 'data' });
  const job = causalLmReplicaJob(context, {
    replica: model.replica,
    weights: model.weights,
    adapter: resolvedAdapterConfig(options.adapter),
    batchAt,
    steps: options.steps,
    lr: resolveSchedule(options),
    seed: options.seed ?? options.adapter.seed ?? 0,
    optimizer: options.optimizer,
    clipGradNorm: options.clipGradNorm,
    accumulationSteps: options.accumulationSteps,
    checkpoint: options.checkpoint,
    resume: options.resume,
    ownsModel: false,
    ...(options.collect === undefined ? {} : { collect: options.collect }),
  });
  const adapter = job.model as AdapterModel;
  if (options.initialAdapter !== undefined) adapter.loadPeftAdapter(options.initialAdapter);
  const evaluate = options.evaluate;
  if (evaluate !== undefined) job.evaluate = { every: evaluate.every, run: (step) => evaluate.run({ step, model, adapter }) };
  return job;
}
