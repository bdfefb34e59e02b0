/**
 * A two-layer MLP toy for training tests: seeded frozen weights `fc1`, `fc2`
 * (HF layout [out, in]), deterministic regression batches from a fixed
 * teacher, and the forward fc2(relu(fc1(x))) through any linear provider.
 * The trainer's adapter tests, the register-variant test and the old-layout
 * files of `legacy-state/` use it with their own seeds and sizes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import type { LinearProvider } from '../linear.js';

/** What decides the toy: seeds, sizes and the teacher y[k] = teacher(x, k) of a batch's inputs. */
export interface MlpToyOptions {
  readonly seed: number;
  /** Batch i draws its inputs from `Rng.fromSeed(batchSeed + i)`. */
  readonly batchSeed: number;
  readonly inDim: number;
  readonly hidden: number;
  readonly outDim: number;
  readonly rows: number;
  readonly teacher: (x: Float32Array, k: number) => number;
}

/** One batch: `rows` inputs [rows, inDim] and targets [rows, outDim]. */
export interface MlpBatch {
  x: Float32Array;
  y: Float32Array;
}

/** The toy's pieces (see {@link mlpToy}). */
export interface MlpToy {
  /** Fresh frozen weights (the caller disposes them). */
  weights(): Map<string, tf.Tensor2D>;
  batchAt(i: number): MlpBatch;
  /** fc2(relu(fc1(x))) for x [n, inDim]. */
  output(model: LinearProvider, x: tf.Tensor2D): tf.Tensor2D;
  /** Mean squared error of a batch. */
  loss(model: LinearProvider, batch: MlpBatch): tf.Scalar;
  /** A fixed input [rows, inDim], sin(k). */
  probe(): tf.Tensor2D;
}

/** Builds the toy for `options`. */
export function mlpToy(options: MlpToyOptions): MlpToy {
  const { inDim, hidden, outDim, rows } = options;
  const output = (model: LinearProvider, x: tf.Tensor2D) => tf.tidy(() => model.linear('fc2', tf.relu(model.linear('fc1', x))));
  return {
    weights: () => {
      const rng = Rng.fromSeed(options.seed);
      const w = (r: number, c: number) =>
        tf.tensor2d(
          Float32Array.from({ length: r * c }, () => rng.normal() / Math.sqrt(c)),
          [r, c],
        );
      return new Map([
        ['fc1.weight', w(hidden, inDim)],
        ['fc2.weight', w(outDim, hidden)],
      ]);
    },
    batchAt: (i) => {
      const rng = Rng.fromSeed(options.batchSeed + i);
      const x = Float32Array.from({ length: rows * inDim }, () => rng.normal());
      return { x, y: Float32Array.from({ length: rows * outDim }, (_, k) => options.teacher(x, k)) };
    },
    output,
    loss: (model, b) => tf.tidy(() => tf.mean(tf.square(tf.sub(output(model, tf.tensor2d(b.x, [rows, inDim])), tf.tensor2d(b.y, [rows, outDim])))) as tf.Scalar),
    probe: () =>
      tf.tensor2d(
        Float32Array.from({ length: rows * inDim }, (_, k) => Math.sin(k)),
        [rows, inDim],
      ),
  };
}
