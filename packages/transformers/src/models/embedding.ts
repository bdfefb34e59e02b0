import * as tf from '@tensorflow/tfjs-core';
import { embeddingLookup } from '@tsd-peft/tfjs';

/**
 * Rows of `table` `[V, d]` for `ids` `[B, T]`, as `[B·T, d]`, through the
 * backend package's `embeddingLookup`, whose gradient with respect to the
 * table works on wasm too (plain `gather`'s needs a kernel wasm lacks), so a
 * trainable embedding can be dropped into the weight map.
 */
export function embedTokens(table: tf.Tensor, ids: tf.Tensor2D): tf.Tensor2D {
  const [b, t] = ids.shape;
  return embeddingLookup(table as tf.Tensor2D, tf.reshape(ids, [b * t])) as tf.Tensor2D;
}
