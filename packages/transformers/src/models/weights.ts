import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import type { WeightMap } from './types.js';

/** A weight the forward needs; a missing one is a ConfigError naming the tensor. */
export function requireWeight(weights: WeightMap, name: string): tf.Tensor {
  const w = weights.get(name);
  if (w === undefined) throw new ConfigError('weight missing from the weight map', { tensor: name });
  return w;
}

/** Disposes every tensor of a weight map once (tied aliases share one tensor) and clears it. */
export function disposeWeights(weights: WeightMap): void {
  const seen = new Set<tf.Tensor>();
  for (const w of weights.values()) {
    if (!seen.has(w)) {
      seen.add(w);
      w.dispose();
    }
  }
  weights.clear();
}
