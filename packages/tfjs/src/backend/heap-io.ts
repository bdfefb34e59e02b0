import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's `BackendWasm` used here. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function wasmHeap(): WasmHeapBackend | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  return typeof backend.makeOutput === 'function' && typeof backend.typedArrayFromHeap === 'function' ? (backend as WasmHeapBackend) : null;
}

/**
 * Float32 tensors to fill from JavaScript, and views of their memory to
 * write into (the data-parallel gradient exchange). On
 * the wasm backend the tensors are allocated on the heap first and the
 * views point straight at their data, so values are written once, where
 * the next kernel reads them (no intermediate arrays, no upload copy).
 * Elsewhere the views are plain arrays that `tensors()` uploads.
 */
export interface HeapOutputs {
  /** One writable view per shape, valid until the next TF.js allocation. */
  readonly views: Float32Array[];
  /** The tensors holding what was written into `views` (call once, after writing). */
  tensors(): tf.Tensor[];
}

/** Allocates {@link HeapOutputs} for `shapes`. */
export function heapOutputs(shapes: readonly (readonly number[])[]): HeapOutputs {
  const heap = wasmHeap();
  if (heap === null) {
    const views = shapes.map((s) => new Float32Array(tf.util.sizeFromShape([...s])));
    return { views, tensors: () => views.map((v, i) => tf.tensor(v, [...(shapes[i] as number[])], 'float32')) };
  }
  const infos = shapes.map((s) => heap.makeOutput([...s], 'float32'));
  // views after every allocation: a later one may grow (and detach) the heap
  const views = infos.map((info) => heap.typedArrayFromHeap(info) as Float32Array);
  return { views, tensors: () => infos.map((info) => tf.engine().makeTensorFromTensorInfo(info)) };
}

/**
 * The float32 data of `tensors` for reading: on the wasm backend views of
 * the heap (no copy; valid until the next TF.js allocation), elsewhere
 * `dataSync()`.
 */
export function readViews(tensors: readonly tf.Tensor[]): Float32Array[] {
  const heap = wasmHeap();
  return tensors.map((t) => (heap !== null && t.dtype === 'float32' ? (heap.typedArrayFromHeap(t) as Float32Array) : (t.dataSync() as Float32Array)));
}
