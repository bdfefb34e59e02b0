import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { isReducedWeight, type BaseWeight } from '@tsd-peft/tfjs';
import type { WeightMap } from './types.js';

/** A weight the forward needs; a missing one is a ConfigError naming the tensor. */
export function requireWeight(weights: WeightMap, name: string): BaseWeight {
  const w = weights.get(name);
  if (w === undefined) throw new ConfigError('weight missing from the weight map', { tensor: name });
  return w;
}

/**
 * A weight the forward uses in element-wise ops (a norm's scale, a bias): it
 * must be an fp32 tensor, never reduced precision (loaders keep 1-D weights
 * fp32); anything else is a ConfigError naming the tensor.
 */
export function requireTensor(weights: WeightMap, name: string): tf.Tensor {
  const w = requireWeight(weights, name);
  if (isReducedWeight(w)) throw new ConfigError(`the forward needs ${name} as an fp32 tensor, but it is held as ${w.dtype}`, { tensor: name });
  return w;
}

/** Disposes every weight of a weight map once (tied aliases share one object) and clears it. */
export function disposeWeights(weights: WeightMap): void {
  for (const w of new Set(weights.values())) w.dispose();
  weights.clear();
}
