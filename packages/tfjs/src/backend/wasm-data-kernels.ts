import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import { overrideWasmKernel } from './wasm-kernel-override.js';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackendData {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

let installed = false;

/** Output that shares `x`'s data (reference-counted, as wasm's own `Reshape` does). */
function share(backend: WasmBackendData, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * Replaces three of tfjs-backend-wasm's data-movement kernels where they
 * waste a training step's time (measured on the perf bench's step of 333 ms):
 * - `Identity` copies its input; `tf.customGrad` clones every saved tensor
 *   through it (~360 copies, ~11 ms per step). Here it shares the data, as
 *   wasm's `Reshape` does: TF.js tensors are immutable (a Variable's `assign`
 *   re-points it at new data), so sharing is safe.
 * - `Cast` to the same dtype copies too (the gradient of a clone is one; ~3 ms).
 * - `GatherV2` of whole rows (axis 0, the embedding lookup) took ~6 ms for
 *   1024 rows of 256 floats; row copies take ~0.1 ms.
 * Anything else runs the stock kernel. Called by `setupBackend`.
 */
export function installWasmDataKernels(): void {
  if (installed || tf.getBackend() !== 'wasm') return;
  installed = true;
  overrideWasmKernel<WasmBackendData>('Identity', ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    return x.dtype === 'string' ? null : share(backend, x);
  });
  overrideWasmKernel<WasmBackendData>('Cast', ({ inputs, attrs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    return x.dtype !== 'string' && attrs['dtype'] === x.dtype ? share(backend, x) : null;
  });
  overrideWasmKernel<WasmBackendData>('GatherV2', ({ inputs, attrs, backend }) => {
    const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const axis = attrs['axis'] as number;
    if (axis !== 0 || (attrs['batchDims'] ?? 0) !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length < 1) return null;
    const rows = x.shape[0] as number;
    const width = x.shape.slice(1).reduce((p, d) => p * d, 1);
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
    // views after makeOutput: an allocation may grow (and detach) the heap
    const table = backend.typedArrayFromHeap(x) as Float32Array;
    const ids = backend.typedArrayFromHeap(indices) as Int32Array;
    const values = backend.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (!(id >= 0 && id < rows)) throw new ShapeError(`gather: index ${id} at position ${i} is outside [0, ${rows})`, { tensor: 'indices', shape: indices.shape });
      values.set(table.subarray(id * width, (id + 1) * width), i * width);
    }
    return out;
  });
}
