import * as tf from '@tensorflow/tfjs-core';
import { needsAsyncReads } from '../backend/webgpu-host-reads.js';

/**
 * Multi-tensor helpers (PyTorch's `foreach` idea): the optimizer and the
 * gradient norms run one kernel per group of same-shaped tensors instead of
 * one per tensor. A model has a handful of distinct shapes (a LoRA Llama has
 * about six whatever its depth), so a step launches a few dozen elementwise
 * kernels instead of ~15 per variable. On WebGPU each launch is a dispatch
 * with real host cost, and on wasm a kernel call. Elementwise results are
 * the same bits either way, and a sum over a stacked tensor's trailing axes
 * reduces each member in the same order as a sum over the member alone.
 */

/**
 * The most elements one stack may hold on the active backend. Stacking
 * trades launches for memory traffic: on a CPU a stack that falls out of
 * cache loses more than the launches save. Measured on wasm (Adam of 30
 * layers of SmolLM-shaped r = 16 LoRA factors): 56 ms one variable at a time,
 * 38 ms with stacks of ≤ 32K elements, 500 ms with unbounded stacks. GPUs
 * pay far more per launch and have the bandwidth, so they stack more: on
 * the 110M preset's LoRA-Dash set, 3,024 → 353 dispatches per update.
 */
export function maxStackElements(): number {
  return needsAsyncReads() ? 1 << 22 : 1 << 15;
}

/** Names of same-shaped entries, in first-seen order. */
export interface ShapeGroup {
  shape: number[];
  names: string[];
}

/**
 * Groups `entries` by shape, keeping first-seen order of groups and of names
 * within each group, and splits a group where its stack would exceed
 * `maxElements` (a variable larger than that forms a group of its own).
 */
export function groupByShape(entries: Iterable<readonly [string, { readonly shape: readonly number[] }]>, maxElements = maxStackElements()): ShapeGroup[] {
  const groups = new Map<string, ShapeGroup[]>();
  for (const [name, { shape }] of entries) {
    const key = shape.join(',');
    const chunks = groups.get(key);
    const last = chunks?.[chunks.length - 1];
    if (last !== undefined && (last.names.length + 1) * tf.util.sizeFromShape(last.shape) <= maxElements) last.names.push(name);
    else if (chunks !== undefined) chunks.push({ shape: [...shape], names: [name] });
    else groups.set(key, [{ shape: [...shape], names: [name] }]);
  }
  return [...groups.values()].flat();
}

/** `tf.stack(tensors)` along a new axis 0; one tensor is only reshaped (no copy). */
export function stackAll(tensors: readonly tf.Tensor[]): tf.Tensor {
  const [first] = tensors;
  if (first === undefined) throw new RangeError('stackAll needs at least one tensor');
  return tensors.length === 1 ? tf.expandDims(first, 0) : tf.stack([...tensors]);
}

/**
 * The inverse of {@link stackAll}: `n` tensors of `shape`; for `n` = 1 a
 * reshape, not a slice copy. Split along axis 0, then reshaped: the same
 * values as `tf.unstack`, but wasm's `Unpack` kernel took 18 ms for
 * [16, 8, 256] (the toy bench's LoRA A factors, every Adam step) where
 * `SplitV` takes 0.6 ms.
 */
export function unstackAll(stacked: tf.Tensor, n: number, shape: readonly number[]): tf.Tensor[] {
  if (n === 1) return [tf.reshape(stacked, [...shape])];
  return tf.split(stacked, n, 0).map((part) => {
    const value = tf.reshape(part, [...shape]);
    part.dispose();
    return value;
  });
}

/** The axes of a stacked tensor that belong to its members (all but axis 0). */
export function memberAxes(stacked: tf.Tensor): number[] {
  return Array.from({ length: stacked.rank - 1 }, (_, i) => i + 1);
}
