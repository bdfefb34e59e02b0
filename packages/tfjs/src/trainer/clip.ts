import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { groupByShape, memberAxes, stackAll } from './stacked.js';

/**
 * The L2 norm of each gradient, in map order, as one rank-1 tensor: the first
 * half of `torch.nn.utils.clip_grad_norm_` (`[vector_norm(g) for g in grads]`).
 * The trainer reads it back with the loss to check finiteness in one sync.
 */
export function gradientNorms(grads: ReadonlyMap<string, tf.Tensor>): tf.Tensor1D {
  return tf.tidy(() => {
    // Same-shaped gradients are normed together: each row of the stacked sum
    // reduces its member in the order a sum of that member alone would.
    const groups = groupByShape(grads);
    const perGroup = groups.map(({ names }) => {
      const stacked = stackAll(names.map((name) => grads.get(name) as tf.Tensor));
      return tf.sqrt(tf.sum(tf.square(stacked), memberAxes(stacked)));
    });
    const norms = perGroup.length === 1 ? (perGroup[0] as tf.Tensor) : tf.concat(perGroup);
    const grouped = groups.flatMap(({ names }) => names);
    const names = [...grads.keys()];
    if (grouped.every((name, i) => name === names[i])) return norms as tf.Tensor1D;
    const position = new Map(grouped.map((name, i) => [name, i]));
    return tf.gather(
      norms,
      names.map((name) => position.get(name) as number),
    ) as tf.Tensor1D;
  });
}

/** The global norm ‖(‖g₁‖, …, ‖gₙ‖)‖₂ from {@link gradientNorms}, as torch stacks and norms the per-tensor norms. */
export function globalNorm(norms: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(norms))) as tf.Scalar);
}

/**
 * The factor `clip_grad_norm_` multiplies every gradient by:
 * `min(1, maxNorm / (total + 1e-6))`, with `maxNorm / x` computed as
 * `reciprocal(x)·maxNorm` because that is how torch evaluates a Python scalar
 * divided by a tensor. The optimizer can apply it itself (`gradScale`).
 */
export function clipCoefficient(totalNorm: tf.Scalar, maxNorm: number): tf.Scalar {
  checkMaxNorm(maxNorm);
  return tf.tidy(() => tf.minimum(tf.mul(tf.reciprocal(tf.add(totalNorm, 1e-6)), maxNorm), 1) as tf.Scalar);
}

/**
 * Scales every gradient by `min(1, maxNorm / (total + 1e-6))`, exactly as
 * `clip_grad_norm_` does (including its 1e-6 and the fact that it always
 * multiplies, by 1 when under the limit; see {@link clipCoefficient}).
 * Returns new tensors; the caller owns the inputs.
 */
export function scaleToMaxNorm(grads: ReadonlyMap<string, tf.Tensor>, totalNorm: tf.Scalar, maxNorm: number): Map<string, tf.Tensor> {
  const coef = clipCoefficient(totalNorm, maxNorm);
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) out.set(name, tf.mul(g, coef));
  coef.dispose();
  return out;
}

/**
 * `torch.nn.utils.clip_grad_norm_` on a map of gradients: returns the clipped
 * gradients (new tensors) and the total norm before clipping.
 */
export function clipByGlobalNorm(grads: ReadonlyMap<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; totalNorm: number } {
  checkMaxNorm(maxNorm);
  const norms = gradientNorms(grads);
  const total = globalNorm(norms);
  const clipped = scaleToMaxNorm(grads, total, maxNorm);
  const totalNorm = total.dataSync()[0] as number;
  tf.dispose([norms, total]);
  return { grads: clipped, totalNorm };
}

function checkMaxNorm(maxNorm: number): void {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new ConfigError(`clipGradNorm must be a finite positive number, got ${maxNorm}`);
}
