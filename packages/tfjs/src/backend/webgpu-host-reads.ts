import * as tf from '@tensorflow/tfjs-core';

/**
 * Host reads on GPU backends. tfjs's `webgpu` backend keeps tensor values in
 * GPU buffers; `dataSync()` then has to read them back synchronously, which
 * WebGPU cannot do: tfjs goes through an OffscreenCanvas (slow in browsers,
 * and `OffscreenCanvas is not defined` in Node). `await tensor.data()` is the
 * only read that works everywhere, and it leaves the values cached on the host
 * for the tensor's lifetime, so a later `dataSync()` of the same tensor is a
 * plain memory read. Code with synchronous hooks (LoRA-Dash's launch, LoRA-Init's
 * re-initialisation, checkpoint capture, export) awaits {@link prefetchHostValues}
 * on the tensors it is about to read.
 */

/** Backends whose tensors live in host memory, where `dataSync()` is a plain read. */
const HOST_BACKENDS = new Set(['cpu', 'wasm', 'tensorflow']);

/** True when `dataSync()` on the active backend may need a GPU read-back (webgpu, webgl). */
export function needsAsyncReads(): boolean {
  return !HOST_BACKENDS.has(tf.getBackend());
}

/**
 * Awaits the values of `tensors` (in one batch of read-backs) so the host
 * copy tfjs caches serves their later synchronous reads. A no-op on host
 * backends, so results there are unchanged bit for bit. Disposed tensors are
 * skipped.
 */
export async function prefetchHostValues(tensors: Iterable<tf.Tensor | null | undefined>): Promise<void> {
  if (!needsAsyncReads()) return;
  const reads: Promise<unknown>[] = [];
  for (const t of tensors) if (t != null && !t.isDisposed) reads.push(t.data());
  await Promise.all(reads);
}

/** `await t.data()` as a fresh Float32Array copy (never a view the backend may reuse). */
export async function readFloat32(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array);
}
