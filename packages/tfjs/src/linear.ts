import type * as tf from '@tensorflow/tfjs-core';

/**
 * The one seam between a model replica and the adapters: the replica asks for
 * the projection of a named 2-D weight (a Hugging Face module path such as
 * `model.layers.0.self_attn.q_proj`) and never touches weights or adapters
 * itself. That keeps injection a data operation (DESIGN.md).
 */
export interface LinearProvider {
  /**
   * `y = x · Wᵀ` plus whatever adapter terms are attached to `name`.
   * `x` is `[n, in]`; the result is `[n, out]` (HF `nn.Linear` semantics, no bias).
   */
  linear(name: string, x: tf.Tensor2D): tf.Tensor2D;
  /**
   * Every tensor a gradient may be asked for whose module path starts with
   * `modulePrefix` (e.g. `model.layers.3.`): trainable variables, and gradient
   * probes while they are attached. Gradient checkpointing passes them to the
   * recomputed layer, which routes gradients only to tensors it is given.
   */
  gradientTensors?(modulePrefix: string): tf.Tensor[];
}
