import * as tf from '@tensorflow/tfjs-core';

/**
 * GPU memory of tfjs's `webgpu` backend. Its buffer manager never frees a
 * buffer a disposed tensor gave back: it keeps it in a free pool keyed by
 * size and usage, so the pool only grows (7.1 GB held against 0.48 GB live
 * after a training run was measured on an H200). These helpers read its
 * counters, track the peak, and destroy the pooled buffers between runs.
 */

/** GPU memory of the `webgpu` backend, in bytes. */
export interface WebGpuMemory {
  /** Bytes in buffers held by live tensors and pending work. */
  usedBytes: number;
  /** Bytes in all buffers the backend holds (used + pooled free buffers). */
  allocatedBytes: number;
  /** Largest `allocatedBytes` seen since the backend started or {@link resetPeakGpuMemory}. */
  peakAllocatedBytes: number;
  /** Pooled free buffers. */
  freeBuffers: number;
}

/** The fields of tfjs-backend-webgpu's BufferManager we read (4.22). */
interface BufferManagerLike {
  numBytesUsed: number;
  numBytesAllocated: number;
  numFreeBuffers: number;
  freeBuffers: Map<string, { destroy(): void }[]>;
  acquireBuffer(...args: unknown[]): unknown;
}

const PEAK = Symbol.for('tsd-peft.webgpu.peakAllocatedBytes');
type Tracked = BufferManagerLike & { [PEAK]?: number };

function bufferManagerOf(backend: unknown): Tracked | null {
  const manager = (backend as { bufferManager?: unknown } | null)?.bufferManager as Tracked | undefined;
  if (manager === undefined || typeof manager.numBytesAllocated !== 'number' || !(manager.freeBuffers instanceof Map)) return null;
  return manager;
}

/** The active backend's buffer manager when the active backend is `webgpu`. */
function activeManager(): Tracked | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return bufferManagerOf(tf.backend());
}

/**
 * Wraps a webgpu backend's `acquireBuffer` to record the peak of allocated
 * bytes (every allocation goes through it, so the peak is exact). Called by
 * the backend factory of `registerWebGpuBackend`; harmless on other backends.
 */
export function trackPeakGpuMemory(backend: unknown): void {
  const manager = bufferManagerOf(backend);
  if (manager === null || manager[PEAK] !== undefined) return;
  manager[PEAK] = manager.numBytesAllocated;
  const acquire = manager.acquireBuffer.bind(manager);
  manager.acquireBuffer = (...args: unknown[]) => {
    const buffer = acquire(...args);
    if (manager.numBytesAllocated > (manager[PEAK] ?? 0)) manager[PEAK] = manager.numBytesAllocated;
    return buffer;
  };
}

/** GPU memory of the active `webgpu` backend, or null when another backend is active. */
export function webGpuMemory(): WebGpuMemory | null {
  const manager = activeManager();
  if (manager === null) return null;
  return {
    usedBytes: manager.numBytesUsed,
    allocatedBytes: manager.numBytesAllocated,
    peakAllocatedBytes: Math.max(manager[PEAK] ?? 0, manager.numBytesAllocated),
    freeBuffers: manager.numFreeBuffers,
  };
}

/** Starts a new peak window at the current allocation (e.g. at the start of a bench run). */
export function resetPeakGpuMemory(): void {
  const manager = activeManager();
  if (manager !== null && manager[PEAK] !== undefined) manager[PEAK] = manager.numBytesAllocated;
}

/**
 * Destroys every pooled free buffer of the active `webgpu` backend and returns
 * the bytes released (0 on other backends). Buffers of live tensors are
 * untouched, so it is safe between runs, or between steps at the cost of
 * re-allocating. Pending GPU work is submitted first so no pooled buffer is
 * still referenced by queued commands.
 */
export function releaseWebGpuBufferPool(): number {
  const manager = activeManager();
  if (manager === null) return 0;
  const backend = tf.backend() as { submitQueue?: () => void; endComputePassEncoder?: () => void; commandEncoder?: unknown };
  if (backend.commandEncoder != null) {
    // As tfjs does before each submit: an open compute pass would invalidate the whole command buffer.
    backend.endComputePassEncoder?.();
    backend.submitQueue?.();
  }
  const before = manager.numBytesAllocated;
  let released = 0;
  for (const buffers of manager.freeBuffers.values()) {
    for (const buffer of buffers) {
      released += (buffer as { size?: number }).size ?? 0;
      buffer.destroy();
    }
    // Keep the key with an empty list: tfjs's releaseBuffer returns early
    // (and leaks the buffer as "used") when the pool map is empty.
    buffers.length = 0;
  }
  manager.numFreeBuffers = 0;
  manager.numBytesAllocated = before - released;
  return released;
}
