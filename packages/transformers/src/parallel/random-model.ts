import * as tf from '@tensorflow/tfjs-core';
import { Rng, type FrozenDtype } from '@tsd-peft/core';
import { storeBaseWeight } from '@tsd-peft/tfjs';
import type { RawConfig } from '../models/config-fields.js';
import { createReplica } from '../models/registry.js';
import type { CausalLMConfig, CausalLMReplica, WeightMap } from '../models/types.js';
import { disposeWeights } from '../models/weights.js';

/** A replica and a weight map built from a config alone (no checkpoint). */
export interface RandomCausalLM {
  replica: CausalLMReplica<CausalLMConfig>;
  /** Owned by the caller: free with `disposeWeights`. */
  weights: WeightMap;
}

/**
 * A causal LM of any supported architecture with random weights drawn as
 * Hugging Face initialises a fresh model (`_init_weights`: every matrix
 * N(0, initializer_range²), default 0.02; norm weights 1, biases 0), from a
 * seeded stream in weight-name order, so every worker of a data-parallel run
 * builds the same model. For throughput benches and tests, where what matters
 * is the shapes, not the knowledge. With `frozenDtype` 'bfloat16' / 'int8'
 * every 2-D weight is encoded as it is drawn (a `ReducedWeight`), so the
 * model never exists in fp32 (Llama-3.2-1B shapes: 4.6 GiB in fp32).
 */
export function randomCausalLM(raw: RawConfig, seed = 0, frozenDtype: FrozenDtype = 'float32'): RandomCausalLM {
  const replica = createReplica(raw, '<random config>');
  const std = typeof raw['initializer_range'] === 'number' ? raw['initializer_range'] : 0.02;
  const rng = Rng.fromSeed(seed);
  const weights: WeightMap = new Map();
  const tied = replica.tiedHeadSource();
  try {
    for (const [name, shape] of replica.expectedWeights()) {
      if (tied !== null && name === 'lm_head.weight') continue;
      const size = shape.reduce((a, b) => a * b, 1);
      const isNorm = shape.length === 1 && !name.endsWith('.bias');
      const data = new Float32Array(size);
      if (isNorm) data.fill(1);
      else if (shape.length === 2) for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
      weights.set(name, shape.length === 2 ? storeBaseWeight(data, shape[0] as number, shape[1] as number, frozenDtype, name) : tf.tensor(data, shape, 'float32'));
    }
    if (tied !== null) weights.set('lm_head.weight', weights.get(tied) as NonNullable<ReturnType<WeightMap['get']>>);
  } catch (error) {
    replica.dispose();
    disposeWeights(weights);
    throw error;
  }
  return { replica, weights };
}
