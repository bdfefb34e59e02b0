/**
 * A small data-parallel job for the tests: a 2-layer MLP (frozen base
 * weights, HF layout) with real injected adapters (LoRA-Dash by default,
 * launching mid-run) or full fine-tuning, trained with Adam on a regression
 * task. Every global batch has `rows` rows; a replica trains on its
 * `shardRange` of them and weights its loss by its row count, so unequal
 * shards still average to the global batch's gradient. The same builder runs
 * in-process (worldSize 1, rank 0) for the single-replica reference.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng } from '@tsd-peft/core';
import { injectAdapters } from '../../adapter-model.js';
import type { AdapterMethod } from '../../adapter-config.js';
import { indexedBatches } from '../../trainer/data-source.js';
import type { TrainResult } from '../../trainer/train.js';
import type { ReplicaContext, ReplicaJob } from '../worker-runtime.js';
import { shardRange } from '../shard.js';

export const IN = 12;
export const HIDDEN = 24;
export const OUT = 6;

/** The test's knobs, passed as `workerData`. */
export interface ToyJobOptions {
  method: AdapterMethod;
  steps: number;
  rows: number;
  /** LoRA-Dash pre-launch length. */
  t?: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Rank that throws a ConfigError in its loss at this 0-based step (failure test). */
  failRank?: number;
  failStep?: number;
}

/** What each rank reports back. */
export interface ToyOutput {
  lossHistory: number[];
  weights: Record<string, number[]>;
  dashSelected: Record<string, number[]>;
  /** tf.memory().numTensors at the start of each step's loss (tidy discipline). */
  tensorCounts: number[];
  completedSteps: number;
  resumedFromStep: number | null;
}

type Batch = { x: Float32Array; y: Float32Array; rows: number };

function baseWeights(): Map<string, tf.Tensor> {
  const rng = Rng.fromSeed(5);
  const w = (r: number, c: number) =>
    tf.tensor2d(
      Float32Array.from({ length: r * c }, () => rng.normal() / Math.sqrt(c)),
      [r, c],
    );
  return new Map<string, tf.Tensor>([
    ['fc1.weight', w(HIDDEN, IN)],
    ['fc2.weight', w(OUT, HIDDEN)],
  ]);
}

/** Row j of global batch i (a fixed nonlinear teacher), identical on every rank. */
function globalRow(i: number, j: number): { x: number[]; y: number[] } {
  const rng = Rng.fromSeed(10_000 + 97 * i + j);
  const x = Array.from({ length: IN }, () => rng.normal());
  const y = Array.from({ length: OUT }, (_, k) => Math.sin((x[k] as number) * 1.3 + k) + 0.1 * (x[(k + 3) % IN] as number));
  return { x, y };
}

/** Builds the job of one replica. */
export function toyJob({ rank, worldSize, workerData }: ReplicaContext): ReplicaJob<Batch, number> {
  const o = workerData as ToyJobOptions;
  const weights = baseWeights();
  const model = injectAdapters(weights, {
    method: o.method,
    r: 4,
    alpha: 8,
    s: 3,
    t: o.t ?? 3,
    targetModules: ['fc1', 'fc2'],
    seed: 11,
  });
  const { start, count } = shardRange(rank, worldSize, o.rows);
  const tensorCounts: number[] = [];
  const data = indexedBatches<Batch>(
    (i) => {
      const x = new Float32Array(count * IN);
      const y = new Float32Array(count * OUT);
      for (let j = 0; j < count; j++) {
        const row = globalRow(i, start + j);
        x.set(row.x, j * IN);
        y.set(row.y, j * OUT);
      }
      return { x, y, rows: count };
    },
    (b) => b.rows,
  );
  const job: ReplicaJob<Batch, number> = {
    model,
    data,
    steps: o.steps,
    lr: 0.01,
    optimizer: { type: 'adamw', weightDecay: 0.01 },
    lossWeight: (b) => b.rows,
    lossFn: (b, { step }) => {
      tensorCounts.push(tf.memory().numTensors);
      if (rank === o.failRank && step === o.failStep) throw new ConfigError(`planned failure at step ${step}`, { tensor: 'toy' });
      return tf.tidy(() => {
        const h = tf.tanh(model.linear('fc1', tf.tensor2d(b.x, [b.rows, IN])));
        return tf.mean(tf.square(tf.sub(model.linear('fc2', h), tf.tensor2d(b.y, [b.rows, OUT])))) as tf.Scalar;
      });
    },
    collect: (result: TrainResult): ToyOutput => ({
      lossHistory: result.lossHistory,
      completedSteps: result.completedSteps,
      tensorCounts,
      resumedFromStep: result.resumedFromStep,
      weights: Object.fromEntries([...model.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())])),
      dashSelected: Object.fromEntries([...model.tsdSelections()].map(([n, s]) => [n, Array.from(s.dashSelected ?? [])])),
    }),
    dispose: () => {
      model.dispose();
      tf.dispose([...weights.values()]);
    },
  };
  if (o.checkpointDir !== undefined) job.checkpoint = { dir: o.checkpointDir, every: o.checkpointEvery ?? 2 };
  if (o.resume !== undefined) job.resume = o.resume;
  return job;
}
