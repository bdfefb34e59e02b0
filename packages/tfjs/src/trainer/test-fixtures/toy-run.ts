/**
 * One configurable toy training run, shared by the in-process tests and the
 * SIGKILL child script so both exercise the same code path: a GrowingMlp
 * (trainable set grows at `growAt`), shuffled batches (cursor + RNG), a loss
 * that draws row weights from the trainer's RNG, clipping, accumulation, a
 * cosine schedule and AdamW.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@tsd-peft/core';
import { shuffledBatches } from '../data-source.js';
import { cosineWarmupDecay } from '../schedules.js';
import { train, type TrainOptions, type TrainResult } from '../train.js';
import { GrowingMlp, takeRows, toyDataset, type ToyBatch } from './toy-models.js';

export const IN = 6;
export const HIDDEN = 10;
export const OUT = 3;

/** Knobs of {@link toyRun}. */
export interface ToyRunOptions {
  steps: number;
  growAt: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  accumulationSteps?: number;
  clipGradNorm?: number;
  onProgress?: TrainOptions<ToyBatch>['onProgress'];
  signal?: AbortSignal;
}

/** Weighted MSE whose row weights come from the trainer's RNG (so RNG state matters on resume). */
export function weightedMse(model: GrowingMlp, batch: ToyBatch, rng: Rng): tf.Scalar {
  const weights = Float32Array.from({ length: batch.rows }, () => 0.5 + rng.nextFloat());
  const x = tf.tensor2d(batch.x, [batch.rows, IN]);
  const y = tf.tensor2d(batch.y, [batch.rows, OUT]);
  const rowErr = tf.mean(tf.square(tf.sub(model.forward(x), y)), 1);
  return tf.mean(tf.mul(rowErr, tf.tensor1d(weights)));
}

/** Builds the model and runs {@link train} with the toy setup; returns the model (caller disposes). */
export async function toyRun(options: ToyRunOptions): Promise<{ model: GrowingMlp; result: TrainResult }> {
  const dataset = toyDataset(21, 48, IN, OUT);
  const heldOut = toyDataset(22, 16, IN, OUT);
  const model = new GrowingMlp({ seed: 4, inDim: IN, hidden: HIDDEN, outDim: OUT, growAt: options.growAt });
  const trainOptions: TrainOptions<ToyBatch> = {
    model,
    data: shuffledBatches({ size: dataset.rows, batchSize: 8, batch: (idx) => takeRows(dataset, idx, IN, OUT), tokens: (b) => b.rows }),
    lossFn: (batch, { rng }) => weightedMse(model, batch, rng),
    steps: options.steps,
    lr: cosineWarmupDecay({ lr: 2e-2, warmupSteps: 3, totalSteps: options.steps }),
    optimizer: { type: 'adamw', weightDecay: 0.05 },
    clipGradNorm: options.clipGradNorm ?? 0.5,
    accumulationSteps: options.accumulationSteps ?? 2,
    seed: 1234,
    evaluate: {
      every: 4,
      run: () =>
        tf.tidy(() => {
          const x = tf.tensor2d(heldOut.x, [heldOut.rows, IN]);
          const y = tf.tensor2d(heldOut.y, [heldOut.rows, OUT]);
          return tf.mean(tf.square(tf.sub(model.forward(x), y))).dataSync()[0] as number;
        }),
    },
  };
  if (options.checkpointDir !== undefined) trainOptions.checkpoint = { dir: options.checkpointDir, every: options.checkpointEvery ?? 5 };
  if (options.resume !== undefined) trainOptions.resume = options.resume;
  if (options.onProgress !== undefined) trainOptions.onProgress = options.onProgress;
  if (options.signal !== undefined) trainOptions.signal = options.signal;
  try {
    return { model, result: await train(trainOptions) };
  } catch (error) {
    model.dispose(); // a failed run's model would otherwise leak into later tests' tensor counts
    throw error;
  }
}

/** Trainable variable values by name, as plain arrays (exact float32 values). */
export function snapshotWeights(model: GrowingMlp): Record<string, number[]> {
  return Object.fromEntries([...model.trainableVariables()].map(([name, v]) => [name, Array.from(v.dataSync())]));
}
