import * as tf from '@tensorflow/tfjs-core';

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

/** Names of same-shaped entries, in first-seen order. */
export interface ShapeGroup {
  shape: number[];
  names: string[];
}

/** Groups `entries` by shape, keeping first-seen order of groups and of names within each group. */
export function groupByShape(entries: Iterable<readonly [string, { readonly shape: readonly number[] }]>): ShapeGroup[] {
  const groups = new Map<string, ShapeGroup>();
  for (const [name, { shape }] of entries) {
    const key = shape.join(',');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { shape: [...shape], names: [name] });
    else group.names.push(name);
  }
  return [...groups.values()];
}

/** `tf.stack(tensors)` along a new axis 0; one tensor is only reshaped (no copy). */
export function stackAll(tensors: readonly tf.Tensor[]): tf.Tensor {
  const [first] = tensors;
  if (first === undefined) throw new RangeError('stackAll needs at least one tensor');
  return tensors.length === 1 ? tf.expandDims(first, 0) : tf.stack([...tensors]);
}

/** The inverse of {@link stackAll}: `n` tensors of `shape`; for `n` = 1 a reshape, not a slice copy. */
export function unstackAll(stacked: tf.Tensor, n: number, shape: readonly number[]): tf.Tensor[] {
  return n === 1 ? [tf.reshape(stacked, [...shape])] : tf.unstack(stacked);
}

/** The axes of a stacked tensor that belong to its members (all but axis 0). */
export function memberAxes(stacked: tf.Tensor): number[] {
  return Array.from({ length: stacked.rank - 1 }, (_, i) => i + 1);
}
