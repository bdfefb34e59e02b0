import * as threads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TsdError } from '@tsd-peft/core';
import type { CheckpointOptions, TrainOptions, TrainResult } from '../trainer/train.js';
import { train } from '../trainer/train.js';
import type { CheckpointStore } from '../trainer/checkpoint-store.js';
import { directoryCheckpointStore } from '../trainer/directory-store.js';
import type { DataSource, JsonValue } from '../trainer/data-source.js';
import type { StepGradients } from '../trainer/gradients.js';
import { FixedOrderAllReduce } from './all-reduce.js';
import { heapOutputs, readViews } from '../backend/heap-io.js';
import { serializeError, WORKER_DATA_TAG, type ReplicaMessage, type ReplicaWorkerData } from './messages.js';
import { structureSignature, variablesChecksum } from './replica-checks.js';
import { CONTROL } from './shared-memory.js';

/** Who a replica is, handed to the worker's setup function. */
export interface ReplicaContext {
  /** 0-based replica index; rank 0 writes checkpoints, evaluates and reports progress. */
  rank: number;
  worldSize: number;
  /** The `workerData` given to `trainDataParallel` (structured-cloned). */
  workerData: unknown;
}

/**
 * One replica's training job: the {@link train} options of this rank, whose
 * `data` yields this rank's shard of each global batch (see `shardRange`).
 * The runtime supplies progress, cancellation and the gradient all-reduce.
 */
export interface ReplicaJob<B, C extends JsonValue = JsonValue> extends Omit<TrainOptions<B, C>, 'onProgress' | 'signal' | 'combineGradients'> {
  /**
   * Weight of a micro-batch in the global mean (e.g. its counted target
   * tokens). When shards can differ, the loss of each shard is scaled by
   * N·wᵢ/Σw so that the replicas' mean gradient is exactly the gradient of
   * the token-weighted global mean loss. Default: equal weights.
   */
  lossWeight?: (batch: B) => number;
  /** Runs on every rank after training; the structured-clonable value is returned per rank. */
  collect?: (result: TrainResult) => unknown;
  /** Frees the replica; runs after `collect`, and on failure. */
  dispose?: () => void;
}

/** Builds a rank's job; runs once in each worker. */
export type ReplicaSetup<B, C extends JsonValue = JsonValue> = (context: ReplicaContext) => ReplicaJob<B, C> | Promise<ReplicaJob<B, C>>;

/**
 * The body of a data-parallel worker module: call it at the top level of the
 * file passed to `trainDataParallel({ worker })`. It builds this rank's job
 * with `setup` (load the model, pick the backend, shard the data), runs the
 * trainer with the gradient all-reduce hooked in, and reports to the
 * coordinator. Every replica applies the same averaged gradient with the
 * same optimizer code to the same parameters, so replicas stay bit-identical
 * (checked by checksum at the end, and every `verifyEvery` steps), and
 * LoRA-Dash launches (SVD + selection) identically on every rank.
 */
export async function serveDataParallelWorker<B, C extends JsonValue = JsonValue>(setup: ReplicaSetup<B, C>): Promise<void> {
  const init = threads.workerData as ReplicaWorkerData | undefined;
  const port = threads.parentPort;
  if (threads.isMainThread || port === null || init?.tag !== WORKER_DATA_TAG) {
    throw new ConfigError('serveDataParallelWorker must run in a worker started by trainDataParallel');
  }
  const post = (message: ReplicaMessage) => port.postMessage(message);
  const reducer = new FixedOrderAllReduce(init.memory, init.rank);
  let job: ReplicaJob<B, C> | undefined;
  try {
    job = await setup({ rank: init.rank, worldSize: init.memory.worldSize, workerData: init.user });
    const timing = { exchangeSeconds: 0, exchangeWaitSeconds: 0 };
    const result = await runReplica(job, reducer, init, post, timing);
    const output = job.collect?.(result);
    post({ kind: 'done', rank: init.rank, result, output, exchangeSeconds: timing.exchangeSeconds, exchangeWaitSeconds: timing.exchangeWaitSeconds });
  } catch (error) {
    reducer.abort();
    post({ kind: 'failed', rank: init.rank, error: serializeError(error) });
  } finally {
    job?.dispose?.();
  }
}

async function runReplica<B, C extends JsonValue>(
  job: ReplicaJob<B, C>,
  reducer: FixedOrderAllReduce,
  init: ReplicaWorkerData,
  post: (message: ReplicaMessage) => void,
  /** Seconds spent exchanging gradients (read-back, all-reduce including waiting for the other ranks, re-upload), and the waiting alone. */
  timing: { exchangeSeconds: number; exchangeWaitSeconds: number },
): Promise<TrainResult> {
  const { rank } = init;
  const worldSize = reducer.worldSize;
  const control = new Int32Array(init.memory.control);
  const stop = new AbortController();
  let localTokens = 0;
  let globalTokens = 0;
  const counting = job.data.tokens !== undefined;
  const data: DataSource<B, C> = {
    start: job.data.start,
    next: (cursor, rng) => {
      const step = job.data.next(cursor, rng);
      if (job.data.tokens !== undefined) localTokens += job.data.tokens(step.batch);
      return step;
    },
  };
  if (job.data.tokens !== undefined) data.tokens = job.data.tokens;

  const lossWeight = job.lossWeight;
  const lossFn: TrainOptions<B, C>['lossFn'] =
    lossWeight === undefined
      ? job.lossFn
      : (batch, context) => {
          const w = lossWeight(batch);
          if (!(w >= 0 && Number.isFinite(w))) throw new ConfigError(`lossWeight returned ${w}; it must be finite and >= 0`);
          const total = reducer.exchange([w]).reduce((s, [x]) => s + (x as number), 0);
          const loss = job.lossFn(batch, context);
          const scale = total > 0 ? (worldSize * w) / total : 1;
          return scale === 1 ? loss : tf.mul(loss, scale);
        };

  const verifyEvery = init.verifyEvery;
  const combineGradients = (gradients: StepGradients, step: number): StepGradients => {
    const t0 = performance.now();
    const waited = reducer.waitedMilliseconds;
    try {
      return exchange(gradients, step);
    } finally {
      timing.exchangeSeconds += (performance.now() - t0) / 1000;
      timing.exchangeWaitSeconds += (reducer.waitedMilliseconds - waited) / 1000;
    }
  };
  const exchange = (gradients: StepGradients, step: number): StepGradients => {
    const names = [...gradients.grads.keys()];
    const tensors = names.map((n) => gradients.grads.get(n) as tf.Tensor);
    const verify = verifyEvery > 0 && step > 0 && step % verifyEvery === 0;
    const scalars = [
      structureSignature(names.map((n, i) => [n, (tensors[i] as tf.Tensor).shape])),
      localTokens,
      rank === 0 ? Atomics.load(control, CONTROL.stopRequested) : 0,
      verify ? variablesChecksum(job.model.trainableVariables()) : 0,
    ];
    localTokens = 0;
    const all = reducer.exchange(scalars);
    if (all.some((s) => s[0] !== scalars[0])) {
      tf.dispose([...tensors, ...gradients.losses]);
      throw new ConfigError(`step ${step + 1}: the replicas computed gradients for different variable sets (this rank: ${names.join(', ')})`);
    }
    if (verify)
      assertSameChecksum(
        all.map((s) => s[3] as number),
        `before step ${step + 1}`,
      );
    globalTokens += all.reduce((sum, s) => sum + (s[1] as number), 0);
    if ((all[0] as number[])[2] === 1) stop.abort(); // every rank sees rank 0's flag: all stop after this step
    const lossValues = Float32Array.from(gradients.losses.map((l) => l.dataSync()[0] as number));
    const meanLosses = new Float32Array(lossValues.length);
    // outputs first: allocating may grow the wasm heap, which detaches earlier views of it
    const outputs = heapOutputs(tensors.map((t) => t.shape));
    try {
      reducer.meanInto([...readViews(tensors), lossValues], [...outputs.views, meanLosses]);
    } catch (error) {
      tf.dispose(outputs.tensors()); // an aborted run frees what it allocated
      throw error;
    } finally {
      tf.dispose([...tensors, ...gradients.losses]);
    }
    const grads = new Map<string, tf.Tensor>();
    const reduced = outputs.tensors();
    names.forEach((n, i) => grads.set(n, reduced[i] as tf.Tensor));
    const losses = Array.from(meanLosses, (v) => tf.scalar(v));
    return { grads, losses };
  };

  const { lossWeight: _w, collect: _c, dispose: _d, ...trainOptions } = job;
  const options: TrainOptions<B, C> = { ...trainOptions, data, lossFn, combineGradients, signal: stop.signal };
  if (job.checkpoint !== undefined && rank !== 0) options.checkpoint = readOnlyCheckpoints(job.checkpoint);
  if (rank !== 0) delete options.evaluate;
  const started = performance.now();
  if (rank === 0) {
    options.onProgress = (event) => {
      if (counting) event.tokensPerSecond = globalTokens / ((performance.now() - started) / 1000);
      post({ kind: 'progress', event });
    };
  }
  const result = await train(options);
  const final = reducer.exchange([variablesChecksum(job.model.trainableVariables())]);
  assertSameChecksum(
    final.map((s) => s[0] as number),
    'after training',
  );
  return result;
}

function assertSameChecksum(sums: number[], when: string): void {
  if (sums.some((s) => s !== sums[0])) {
    throw new TsdError(`replicas diverged ${when}: parameter checksums ${sums.map((s) => s.toString(16)).join(' ≠ ')}; the backend or the model is not deterministic across workers`);
  }
}

/**
 * Ranks other than 0 read the same checkpoints (to resume from the same
 * step) but never write: rank 0 alone saves, and its state equals theirs.
 */
function readOnlyCheckpoints(options: CheckpointOptions): CheckpointOptions {
  const store: CheckpointStore = options.store ?? directoryCheckpointStore(options.dir as string, options.keepLast === undefined ? {} : { keepLast: options.keepLast });
  const readOnly: CheckpointStore = {
    latest: () => store.latest(),
    steps: () => store.steps(),
    save: async (step) => `(rank 0 saves step ${step})`,
  };
  const out: CheckpointOptions = { store: readOnly };
  if (options.every !== undefined) out.every = options.every;
  return out;
}
