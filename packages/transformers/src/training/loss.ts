import * as tf from '@tensorflow/tfjs-core';
import { fusedCrossEntropyGrad, needsAsyncReads } from '@tsd-peft/tfjs';

/**
 * Mean next-token cross-entropy of causal-LM logits.
 *
 * `logits` is `[batch, seq, vocab]`; `inputIds` is `[batch, seq]`; position t
 * predicts token t+1 (`nll[t] = −log softmax(logits[t])[ids[t+1]]`, as in the
 * reference fixtures). `lossMask` (`[batch, seq]`, 1 = counted) marks which
 * *target* tokens count: padding and prompt tokens get 0. The mean runs over
 * counted targets only.
 *
 * Every position enters the cross-entropy, the last one with weight 0 (it
 * predicts nothing), so the `[rows, vocab]` logits are never sliced: a slice
 * and its gradient (a pad) would copy the largest tensor of the step twice,
 * and wasm's slice kernel is slow. Only the `[batch, seq]` ids and mask are
 * shifted, on the host.
 */
export function causalLmLoss(logits: tf.Tensor3D, inputIds: tf.Tensor2D, lossMask?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [batch, seq, vocab] = logits.shape;
    const rows = batch * seq;
    const ids = inputIds.dataSync();
    const mask = lossMask?.dataSync();
    const targets = new Int32Array(rows);
    const weights = new Float32Array(rows);
    for (let b = 0; b < batch; b++) {
      // row t predicts token t+1; the last position keeps target 0 with weight 0
      for (let t = 0; t + 1 < seq; t++) {
        const next = b * seq + t + 1;
        targets[b * seq + t] = ids[next] as number;
        weights[b * seq + t] = mask === undefined ? 1 : (mask[next] as number);
      }
    }
    const z = tf.reshape(logits, [rows, vocab]) as tf.Tensor2D;
    return maskedCrossEntropy(z, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights, 'float32'));
  });
}

/**
 * Probabilities below this are where fp32 `softmax` loses the target's
 * probability to underflow (a logit gap beyond ~69 nats); such batches take
 * the exact `logsumexp(z) − z[t]` path instead of `−log p[t]`.
 */
const UNDERFLOW_GUARD = 1e-30;

/**
 * `Σᵢ wᵢ·(logsumexp(zᵢ) − zᵢ[tᵢ]) / Σᵢ wᵢ` over rows of `logits` `[rows, vocab]`.
 * Only `logits` receives a gradient.
 *
 * Computed from one fused softmax: `nllᵢ = −log pᵢ[tᵢ]` (exact to fp32
 * rounding while pᵢ[tᵢ] is normal), and the gradient
 * `(pᵢ − onehot(tᵢ))·wᵢ/Σw` as `p·s − scatter(s at tᵢ)`, which never builds
 * a dense one-hot. On wasm this backward is ~4.6× faster than
 * `exp(z − lse) − oneHot` at vocab 32000 and ~6× at 512 (the broadcast
 * subtract and `exp` kernels are the slow part; `perf.profile.ts` measures
 * both each run). The stock gradient would go through `gather`, whose
 * gradient needs a kernel wasm lacks.
 */
export function maskedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [rows, vocab] = logits.shape;
  const lossFn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [z, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const ids = tf.cast(targets, 'int32');
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), ids);
    const probs = tf.softmax(z);
    const picked = tf.gather(tf.reshape(probs, [rows * vocab]), flatIndex);
    const exact = () => tf.sub(tf.logSumExp(z, 1), tf.gather(tf.reshape(z, [rows * vocab]), flatIndex));
    // On GPU backends a host read here would stall (or fail: webgpu in Node), so rows choose per element.
    const nll = needsAsyncReads()
      ? tf.where(tf.less(picked, UNDERFLOW_GUARD), exact(), tf.neg(tf.log(picked)))
      : (tf.min(picked).dataSync()[0] as number) < UNDERFLOW_GUARD
        ? exact()
        : tf.neg(tf.log(picked));
    const count = tf.maximum(tf.sum(weights), 1);
    const value = tf.div(tf.sum(tf.mul(nll, weights)), count) as tf.Scalar;
    // Saved tensors outlive the caller's tidy scopes until the backward pass has run.
    save([probs, flatIndex, weights, count, ids]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [p, index, w, n, t] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Scalar, tf.Tensor1D];
        const scale = tf.div(tf.mul(w, dy), n) as tf.Tensor1D;
        // on wasm one pass, without the dense scatter (fused-ops.ts); the same values
        const fused = fusedCrossEntropyGrad(p, t, scale);
        if (fused !== null) return fused;
        const hot = tf.reshape(tf.scatterND(tf.reshape(index, [rows, 1]), scale, [rows * vocab]), [rows, vocab]);
        return tf.sub(tf.mul(p, tf.reshape(scale, [rows, 1])), hot);
      },
    };
  });
  return lossFn(logits) as tf.Scalar;
}
