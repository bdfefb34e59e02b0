import * as tf from '@tensorflow/tfjs-core';
import { groupAttention, prefersGroupSplitAttention } from './attention-groups.js';
import { LengthCache } from './length-cache.js';

/**
 * Additive score for masked positions. Large enough that exp underflows to 0
 * after the softmax's max subtraction, small enough that adding two of them
 * (causal + padding) stays finite in float32 (HF uses finfo.min with a clamp).
 */
export const MASKED_SCORE = -1e9;

/**
 * Causal masks `[1, 1, T, T]` (0 where key s ≤ query t, and within the
 * sliding window when there is one; {@link MASKED_SCORE} elsewhere), sliced
 * from one growing master mask and kept per sequence length (see
 * {@link LengthCache}), so forwards reuse them.
 */
export class CausalMaskCache {
  private readonly cache: LengthCache<tf.Tensor4D>;

  constructor(readonly slidingWindow: number | null = null) {
    this.cache = new LengthCache<tf.Tensor4D>(
      (size) => [tf.tensor2d(causalMaskData(size, slidingWindow), [size, size])],
      ([master], len) => [tf.reshape(tf.slice(master as tf.Tensor2D, [0, 0], [len, len]), [1, 1, len, len])],
    );
  }

  /** The causal mask for `seqLen`. */
  get(seqLen: number): tf.Tensor4D {
    return this.cache.get(seqLen)[0] as tf.Tensor4D;
  }

  /** Frees every cached mask. */
  dispose(): void {
    this.cache.dispose();
  }
}

/** Row-major `[size, size]` additive causal mask (HF sliding window: key s visible from t when t − s < window). */
export function causalMaskData(size: number, slidingWindow: number | null): Float32Array {
  const data = new Float32Array(size * size);
  for (let t = 0; t < size; t++) {
    for (let s = 0; s < size; s++) {
      const visible = s <= t && (slidingWindow === null || t - s < slidingWindow);
      data[t * size + s] = visible ? 0 : MASKED_SCORE;
    }
  }
  return data;
}

/**
 * The additive mask `[B|1, 1, T, T]` for one forward: the cached causal mask,
 * plus {@link MASKED_SCORE} on keys whose `attentionMask` is 0 (padding, on
 * either side). Without an attention mask it is the causal mask itself.
 */
export function attentionBias(causal: tf.Tensor4D, attentionMask: tf.Tensor2D | null): tf.Tensor4D {
  if (attentionMask === null) return causal;
  const [batch, seqLen] = attentionMask.shape;
  const keyMask = tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), MASKED_SCORE);
  return tf.add(causal, tf.reshape(keyMask, [batch, 1, 1, seqLen]));
}

/**
 * Scaled dot-product attention with grouped-query heads, eager-HF semantics
 * (`softmax(q·kᵀ·scale + mask)·v`). q is `[B, T, H, hd]`; k, v are
 * `[B, T, KV, hd]` with H a multiple of KV. Query head h reads kv head
 * ⌊h / (H/KV)⌋ (HF `repeat_kv`); instead of repeating k and v, the H/KV query
 * heads of a group are stacked along the row axis so each group is one batched
 * 3-D matmul with equal batch sizes (no broadcast, so its gradient is plain
 * matmuls on every backend). On wasm with tfjs's stock matmul kernel, whose
 * batched products are ~20× slower than its 2-D ones (our kernel, installed
 * by `setupBackend`, has no such gap), the groups run as separate 2-D
 * products instead ({@link groupAttention}; `splitGroups` overrides the choice). Returns
 * `[B·T, H·hd]`, ready for o_proj.
 */
export function groupedQueryAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor4D, scale: number, splitGroups = prefersGroupSplitAttention()): tf.Tensor2D {
  const [b, t, h, hd] = q.shape;
  const kv = k.shape[2];
  const rep = h / kv;
  // [B, H, T, hd] = [B, KV, rep, T, hd] → [B·KV, rep·T, hd]
  const qg = tf.reshape(tf.transpose(tf.mul(q, scale), [0, 2, 1, 3]), [b * kv, rep * t, hd]) as tf.Tensor3D;
  // kᵀ comes straight out of the head transpose ([B, KV, hd, T]): a plain
  // matmul, since wasm's transposed-operand matmul is several times slower
  const kt = tf.reshape(tf.transpose(k, [0, 2, 3, 1]), [b * kv, hd, t]) as tf.Tensor3D;
  const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [b * kv, t, hd]) as tf.Tensor3D;
  let context: tf.Tensor3D;
  if (splitGroups) {
    context = groupAttention(qg, kt, vg, mask, [b, h, t, t]);
  } else {
    const scores = tf.reshape(tf.matMul(qg, kt), [b, h, t, t]);
    const probs = tf.softmax(tf.add(scores, mask));
    context = tf.matMul(tf.reshape(probs, [b * kv, rep * t, t]) as tf.Tensor3D, vg);
  }
  return tf.reshape(tf.transpose(tf.reshape(context, [b, h, t, hd]), [0, 2, 1, 3]), [b * t, h * hd]);
}
