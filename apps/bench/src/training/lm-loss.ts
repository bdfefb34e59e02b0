import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean next-token cross-entropy of causal-LM logits over counted targets:
 * position t−1 predicts token t, and `lossMask[b][t] = 1` marks token t as a
 * target (prompt tokens, padding and position 0 are 0). Built from
 * log-softmax and a gather on the flattened log-probabilities, whose gradient
 * (a scatter-add) the backends set up by `setupBackend` provide.
 */
export function maskedNextTokenLoss(logits: tf.Tensor3D, ids: readonly (readonly number[])[], lossMask: readonly (readonly number[])[]): tf.Scalar {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const rows = B * (T - 1);
    const index = new Int32Array(rows);
    const weight = new Float32Array(rows);
    for (let b = 0; b < B; b++) {
      for (let t = 1; t < T; t++) {
        const r = b * (T - 1) + t - 1;
        index[r] = r * V + (ids[b]?.[t] ?? 0);
        weight[r] = lossMask[b]?.[t] === 1 ? 1 : 0;
      }
    }
    const shifted = tf.reshape(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), [rows, V]);
    const picked = tf.gather(tf.reshape(tf.logSoftmax(shifted), [rows * V]), tf.tensor1d(index, 'int32'));
    const w = tf.tensor1d(weight);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, w))), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
  });
}
