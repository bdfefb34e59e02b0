import * as tf from '@tensorflow/tfjs-core';
import { embeddingLookup, isReducedWeight, reducedGather, type BaseWeight } from '@tsd-peft/tfjs';

/**
 * Rows of `table` `[V, d]` for `ids` `[B, T]`, as `[B·T, d]`. An fp32 table
 * goes through the backend package's `embeddingLookup`, whose gradient with
 * respect to the table works on wasm too (plain `gather`'s needs a kernel
 * wasm lacks), so a trainable embedding can be dropped into the weight map; a
 * reduced-precision table through `reducedGather`, which decodes only the
 * gathered rows (it is frozen: no gradient).
 */
export function embedTokens(table: BaseWeight, ids: tf.Tensor2D): tf.Tensor2D {
  const [b, t] = ids.shape;
  const flat = tf.reshape(ids, [b * t]) as tf.Tensor1D;
  if (isReducedWeight(table)) return reducedGather(table, flat);
  return embeddingLookup(table as tf.Tensor2D, flat) as tf.Tensor2D;
}
