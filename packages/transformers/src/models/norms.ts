import * as tf from '@tensorflow/tfjs-core';
import { fusedRmsNorm } from '@tsd-peft/tfjs';

/**
 * RMSNorm (Zhang & Sennrich 2019; HF `LlamaRMSNorm`):
 * `w · x / √(mean(x²) + eps)` over the last axis of `x` `[n, d]`; on wasm
 * one fused kernel (`fusedRmsNorm`), elsewhere the tfjs composition.
 */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D {
  const fused = fusedRmsNorm(x, weight, eps);
  if (fused !== null) return fused;
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

/**
 * LayerNorm (Ba et al. 2016; `torch.nn.LayerNorm`): biased variance over the
 * last axis, `(x − μ)/√(σ² + eps) · w + b`.
 */
export function layerNorm(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor2D {
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}
