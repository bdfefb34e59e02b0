import { indexedBatches, injectAdapters, shardRange, type AdapterConfig, type AdapterModel, type TrainOptions, type TrainResult } from '@tsd-peft/tfjs';
import type { ReplicaContext, ReplicaJob } from '@tsd-peft/tfjs/node';
import type { CausalLMConfig, CausalLMReplica, WeightMap } from '../models/types.js';
import { disposeWeights } from '../models/weights.js';
import type { TokenBatch } from '../training/data.js';
import { replicaHeadSplit, tokenBatchLoss } from '../training/batch-loss.js';

/** Trainer options a replica job passes to the trainer as given (when set). */
const PASSED_TRAIN_OPTIONS = ['optimizer', 'clipGradNorm', 'accumulationSteps', 'seed', 'checkpoint', 'resume', 'evaluate'] as const;

/** Options of {@link causalLmReplicaJob}; `steps`, `lr` and the optional trainer settings mean what they mean for `train`. */
export interface CausalLmJobOptions extends Pick<TrainOptions<TokenBatch>, 'steps' | 'lr' | (typeof PASSED_TRAIN_OPTIONS)[number]> {
  /** The model of this replica (every worker loads or builds its own). */
  replica: CausalLMReplica<CausalLMConfig>;
  weights: WeightMap;
  /** Adapter method and hyperparameters (`method: 'full'` trains the targeted weights densely). */
  adapter: AdapterConfig;
  /** The GLOBAL batch at `index` (all rows; this replica keeps its `shardRange`). Must be a pure function of `index`. */
  batchAt: (index: number) => TokenBatch;
  /** Also dispose the replica and the weights when the job ends (default true: the worker built them). */
  ownsModel?: boolean;
  /** Recompute each decoder layer's forward in the backward pass (sets the replica's `gradientCheckpointingEnable()`). */
  gradientCheckpointing?: boolean;
  /** What each rank reports back (default: nothing). */
  collect?: (result: TrainResult, adapter: AdapterModel) => unknown;
}

/**
 * Rows `[start, start + count)` of a right-padded token batch, with their
 * own counted-token total (the loss counts `lossMask[:, 1:]`).
 */
export function sliceTokenBatch(batch: TokenBatch, start: number, count: number): TokenBatch {
  const { seq } = batch;
  const rows = (a: Int32Array) => a.slice(start * seq, (start + count) * seq);
  const lossMask = rows(batch.lossMask);
  return {
    batch: count,
    seq,
    inputIds: rows(batch.inputIds),
    attentionMask: rows(batch.attentionMask),
    lossMask,
    tokens: countedTargets(lossMask, seq),
  };
}

/** Targets the causal-LM loss counts: `lossMask[:, 1:]` (position 0 is predicted by nothing). */
export function countedTargets(lossMask: Int32Array, seq: number): number {
  let n = 0;
  for (let i = 0; i < lossMask.length; i++) if (i % seq !== 0 && lossMask[i] !== 0) n++;
  return n;
}

/**
 * One data-parallel replica of causal-LM fine-tuning, for a worker module's
 * `serveDataParallelWorker(setup)`: injects the adapters into this replica's
 * weights, keeps the rank's rows of each global batch (`shardRange`), and
 * builds the masked next-token loss. Each shard's loss is the mean over its
 * counted targets, weighted by that count (`lossWeight`), so the averaged
 * gradient is exactly the global batch's token-mean gradient even when the
 * shards hold different numbers of real tokens.
 */
export function causalLmReplicaJob(context: ReplicaContext, options: CausalLmJobOptions): ReplicaJob<TokenBatch, number> {
  const { replica, weights } = options;
  if (options.gradientCheckpointing === true) replica.gradientCheckpointingEnable();
  else if (options.gradientCheckpointing === false) replica.gradientCheckpointingDisable();
  const adapter = injectAdapters(weights, options.adapter);
  const shardOf = (batch: TokenBatch) => {
    const { start, count } = shardRange(context.rank, context.worldSize, batch.batch);
    return sliceTokenBatch(batch, start, count);
  };
  const job: ReplicaJob<TokenBatch, number> = {
    model: adapter,
    data: indexedBatches(
      (i) => shardOf(options.batchAt(i)),
      (b) => b.tokens,
    ),
    steps: options.steps,
    lr: options.lr,
    lossWeight: (b) => b.tokens,
    lossFn: (b) => tokenBatchLoss(b, (inputs) => replica.forward(inputs, weights, adapter), replicaHeadSplit(replica, weights, adapter)),
    dispose: () => {
      adapter.dispose();
      if (options.ownsModel !== false) {
        replica.dispose();
        disposeWeights(weights);
      }
    },
  };
  const collect = options.collect;
  if (collect !== undefined) job.collect = (result) => collect(result, adapter);
  for (const key of PASSED_TRAIN_OPTIONS) if (options[key] !== undefined) Object.assign(job, { [key]: options[key] });
  return job;
}
