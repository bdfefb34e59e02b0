import { availableParallelism } from 'node:os';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { ConfigError, TsdError } from '@tsd-peft/core';
import type { ProgressEvent } from '../trainer/progress.js';
import type { TrainResult } from '../trainer/train.js';
import { ABORT_ECHO, SharedBarrier } from './barrier.js';
import { deserializeError, WORKER_DATA_TAG, type ReplicaMessage, type ReplicaWorkerData } from './messages.js';
import { CONTROL, createSharedMemory, DEFAULT_CHUNK_ELEMENTS } from './shared-memory.js';

/** Options of {@link trainDataParallel}. */
export interface DataParallelOptions {
  /**
   * The worker module (a path or `file:` URL of an ES module or CommonJS
   * file) that calls `serveDataParallelWorker(setup)` at its top level.
   */
  worker: string | URL;
  /** Number of replicas; default `os.availableParallelism()` (the cores). */
  workers?: number;
  /** Passed (structured-cloned) to each worker's setup as `workerData`. */
  workerData?: unknown;
  /** Rank 0's progress events; `tokensPerSecond` counts the tokens of all replicas. */
  onProgress?: (event: ProgressEvent) => void | Promise<void>;
  /** Stops all replicas after the same step (rank 0 checkpoints first, as in `train`). */
  signal?: AbortSignal;
  /** Also compare the replicas' parameter checksums every this many steps (default 0: only after the last step). */
  verifyEvery?: number;
  /** Floats per replica in the shared reduce buffer (default 2^20); longer gradients go in chunks. */
  chunkElements?: number;
  /** Extra `execArgv` for the workers. */
  execArgv?: string[];
  /** V8 heap limits of each worker (Node's `resourceLimits`). */
  resourceLimits?: ResourceLimits;
}

/** What {@link trainDataParallel} returns: rank 0's {@link TrainResult}, plus per-rank outputs. */
export interface DataParallelResult extends TrainResult {
  workers: number;
  /** What each rank's `collect` returned, indexed by rank (undefined without `collect`). */
  outputs: unknown[];
  /**
   * Seconds each rank spent exchanging gradients over the whole run: reading
   * them back, the all-reduce (waiting for the slower rank included) and
   * uploading the mean. What data parallelism costs beyond the compute.
   */
  exchangeSeconds: number[];
  /**
   * The part of {@link DataParallelResult.exchangeSeconds} each rank spent
   * blocked at the exchange's barriers, waiting for slower ranks (imbalance,
   * not the cost of the exchange itself).
   */
  exchangeWaitSeconds: number[];
}

/**
 * Data-parallel training over `worker_threads`: N replicas (default: one
 * per core), each with its own TF.js backend and model, each training on its
 * shard of every global batch. After each backward pass the gradients are
 * averaged through `SharedArrayBuffer` in a fixed rank order (bit-identical
 * on every replica and from run to run), then every replica applies the same
 * Adam update, so the replicas never diverge and the run equals a
 * single-replica run on the whole global batch up to fp32 summation order.
 * Rank 0 writes the checkpoints (all ranks resume from them), evaluates and
 * reports progress. A failure in any worker aborts all of them and rejects
 * with that worker's error (same TsdError class, message prefixed by its rank).
 */
export async function trainDataParallel(options: DataParallelOptions): Promise<DataParallelResult> {
  const worldSize = options.workers ?? availableParallelism();
  const verifyEvery = options.verifyEvery ?? 0;
  if (!Number.isInteger(verifyEvery) || verifyEvery < 0) throw new ConfigError(`verifyEvery must be a non-negative integer, got ${verifyEvery}`);
  const memory = createSharedMemory(worldSize, options.chunkElements ?? DEFAULT_CHUNK_ELEMENTS);
  const barrier = new SharedBarrier(memory);
  const control = new Int32Array(memory.control);
  const requestStop = () => Atomics.store(control, CONTROL.stopRequested, 1);
  if (options.signal?.aborted === true) requestStop();
  options.signal?.addEventListener('abort', requestStop);

  const workers = Array.from({ length: worldSize }, (_, rank) => {
    const workerData: ReplicaWorkerData = { tag: WORKER_DATA_TAG, rank, memory, user: options.workerData, verifyEvery };
    return new Worker(options.worker, {
      workerData,
      execArgv: options.execArgv ?? [],
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
    });
  });
  const results: (TrainResult | undefined)[] = new Array(worldSize).fill(undefined);
  const outputs: unknown[] = new Array(worldSize).fill(undefined);
  const exchangeSeconds: number[] = new Array(worldSize).fill(0);
  const exchangeWaitSeconds: number[] = new Array(worldSize).fill(0);
  const failures: { rank: number; error: Error }[] = [];
  let progress = Promise.resolve();

  try {
    await Promise.all(
      workers.map(
        (worker, rank) =>
          new Promise<void>((resolve) => {
            const fail = (error: Error) => {
              failures.push({ rank, error });
              barrier.abort(worldSize); // wakes replicas waiting for this one
            };
            worker.on('message', (message: ReplicaMessage) => {
              if (message.kind === 'progress') {
                const event = message.event;
                progress = progress.then(() => options.onProgress?.(event)).catch((error: unknown) => fail(error instanceof Error ? error : new TsdError(String(error))));
                return;
              }
              if (message.kind === 'done') {
                results[rank] = message.result;
                outputs[rank] = message.output;
                exchangeSeconds[rank] = message.exchangeSeconds;
                exchangeWaitSeconds[rank] = message.exchangeWaitSeconds;
              } else {
                fail(deserializeError(message.error, rank));
              }
              void worker.terminate(); // its work is over; do not wait for its event loop to drain
            });
            worker.on('error', (error) => fail(error));
            worker.on('exit', (code) => {
              if (results[rank] === undefined && !failures.some((f) => f.rank === rank)) {
                fail(new TsdError(`worker ${rank} exited with code ${code} before finishing`));
              }
              resolve();
            });
          }),
      ),
    );
    await progress;
  } finally {
    options.signal?.removeEventListener('abort', requestStop);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  if (failures.length > 0) {
    // the root cause, not a replica that was merely woken by the abort
    const root = failures.find((f) => !f.error.message.includes(ABORT_ECHO)) ?? failures[0];
    throw (root as { error: Error }).error;
  }
  const result = results[0] as TrainResult;
  return { ...result, workers: worldSize, outputs, exchangeSeconds, exchangeWaitSeconds };
}
