import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean next-token cross-entropy of causal-LM logits.
 *
 * `logits` is `[batch, seq, vocab]`; `inputIds` is `[batch, seq]`; position t
 * predicts token t+1 (`nll[t] = −log softmax(logits[t])[ids[t+1]]`, as in the
 * reference fixtures). `lossMask` (`[batch, seq]`, 1 = counted) marks which
 * *target* tokens count: padding and prompt tokens get 0. The mean runs over
 * counted targets only.
 *
 * The gradient is written by hand — `softmax − onehot`, scaled by the mask —
 * because the stock one goes through `gather`, whose gradient needs a kernel
 * the wasm backend lacks, and a one-hot product in the forward pass would cost
 * a `[rows, vocab]` matmul per step.
 */
export function causalLmLoss(logits: tf.Tensor3D, inputIds: tf.Tensor2D, lossMask?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [batch, seq, vocab] = logits.shape;
    const rows = batch * (seq - 1);
    // Drop the last position (it predicts nothing) and the first target (nothing predicts it).
    const predicting = tf.reshape(tf.slice(logits, [0, 0, 0], [batch, seq - 1, vocab]), [rows, vocab]) as tf.Tensor2D;
    const targets = tf.cast(tf.reshape(tf.slice(inputIds, [0, 1], [batch, seq - 1]), [rows]), 'int32') as tf.Tensor1D;
    const weights = (
      lossMask === undefined
        ? tf.ones([rows])
        : tf.cast(tf.reshape(tf.slice(lossMask, [0, 1], [batch, seq - 1]), [rows]), 'float32')
    ) as tf.Tensor1D;
    return maskedCrossEntropy(predicting, targets, weights);
  });
}

/**
 * `Σᵢ wᵢ·(logsumexp(zᵢ) − zᵢ[tᵢ]) / Σᵢ wᵢ` over rows of `logits` `[rows, vocab]`.
 * Only `logits` receives a gradient.
 */
export function maskedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [rows, vocab] = logits.shape;
  const lossFn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const targetIds = tf.cast(targets, 'int32');
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), targetIds);
    const count = tf.maximum(tf.sum(weights), 1);
    const logSumExp = tf.logSumExp(z, 1);
    const picked = tf.gather(tf.reshape(z, [rows * vocab]), flatIndex);
    const value = tf.div(tf.sum(tf.mul(tf.sub(logSumExp, picked), weights)), count) as tf.Scalar;
    // Saved tensors outlive the caller's tidy scopes until the backward pass has run.
    save([z, logSumExp, targetIds, weights, count]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zSaved, lse, ids, w, n] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Scalar];
        const softmax = tf.exp(tf.sub(zSaved, tf.reshape(lse, [rows, 1])));
        const oneHot = tf.oneHot(ids, vocab);
        const scale = tf.reshape(tf.div(tf.mul(w, dy), n), [rows, 1]);
        return tf.mul(tf.sub(softmax, oneHot), scale);
      },
    };
  });
  return lossFn(logits) as tf.Scalar;
}
