import * as tf from '@tensorflow/tfjs-core';
import { fusedSwiGlu } from '@tsd-peft/tfjs';

/** SiLU / swish, `x·σ(x)` (the Llama MLP gate). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * The SwiGLU gate product `silu(gate) · up` (Shazeer 2020; the Llama MLP):
 * on wasm one fused kernel (`fusedSwiGlu`), elsewhere the tfjs composition.
 */
export function swiGlu<T extends tf.Tensor>(gate: T, up: T): T {
  return (fusedSwiGlu(gate, up) as T | null) ?? tf.mul(silu(gate), up);
}

/**
 * GPT-2's `gelu_new` (the tanh approximation of Hendrycks & Gimpel):
 * `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
 */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  const cube = tf.mul(tf.mul(x, x), x);
  const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}
