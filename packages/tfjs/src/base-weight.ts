import * as tf from '@tensorflow/tfjs-core';
import type { FrozenDtype } from '@tsd-peft/core';
import { ReducedWeight } from './backend/reduced-weight.js';

/**
 * A frozen base weight as a model's weight map holds it: an fp32 tensor, or a
 * 2-D {@link ReducedWeight} (bfloat16 / blockwise int8 codes, issue #19's
 * QLoRA-style base). Adapters, norms and biases are always tensors.
 */
export type BaseWeight = tf.Tensor | ReducedWeight;

/** True when `w` is held in reduced precision. */
export function isReducedWeight(w: BaseWeight): w is ReducedWeight {
  return w instanceof ReducedWeight;
}

/** The shape of a base weight ([rows, cols] for a reduced one). */
export function baseWeightShape(w: BaseWeight): number[] {
  return isReducedWeight(w) ? [w.rows, w.cols] : [...w.shape];
}

/** The element type the weight is held in. */
export function baseWeightDtype(w: BaseWeight): FrozenDtype {
  return isReducedWeight(w) ? w.dtype : 'float32';
}

/** Bytes the weight holds on the backend (codes and scales for a reduced one). */
export function baseWeightBytes(w: BaseWeight): number {
  return isReducedWeight(w) ? w.bytes : w.size * 4;
}

/**
 * The tensors behind a base weight, e.g. to await their values on a GPU
 * backend before host reads (`prefetchHostValues`).
 */
export function baseWeightTensors(w: BaseWeight): tf.Tensor[] {
  if (!isReducedWeight(w)) return [w];
  return [w.codes, ...(w.scales === null ? [] : [w.scales]), ...(w.zeroPoints === null ? [] : [w.zeroPoints])];
}

/**
 * The weight as an fp32 tensor: the tensor itself, or W decoded exactly
 * (core's `decodeWeight`) into a new tensor. Call it inside `tf.tidy`, which
 * then frees a decoded copy and leaves a borrowed tensor alone.
 */
export function denseBaseWeight(w: BaseWeight): tf.Tensor {
  return isReducedWeight(w) ? w.decode() : w;
}

/**
 * Stores a 2-D fp32 weight (row-major [rows, cols]) as `dtype`: an fp32 tensor
 * for 'float32', else a {@link ReducedWeight} encoded by core's `encodeWeight`.
 * Loaders call it tensor by tensor, so the whole model never exists in fp32.
 */
export function storeBaseWeight(data: Float32Array, rows: number, cols: number, dtype: FrozenDtype, name: string): tf.Tensor2D | ReducedWeight {
  if (dtype === 'float32') return tf.tensor2d(data, [rows, cols], 'float32');
  return ReducedWeight.fromFloat32(data, rows, cols, dtype, name);
}
