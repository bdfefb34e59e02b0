import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, TsdError, codeByteLength, decodeWeightRows, type EncodedWeight } from '@tsd-peft/core';
import { type ReducedWeight, setReducedKernels } from './reduced-weight.js';
import { type ReducedGemmWeight, type WasmBackendInternals, reducedGemmOnHeap, wasmGemmActive } from './wasm-gemm.js';

/**
 * The wasm kernels behind `reducedMatMul` and `reducedGather`, registered
 * under their own names so the engine makes and counts their outputs
 * (`tf.memory()`) as for any kernel:
 * - `TsdReducedMatMul`: the `rgemm` export of wasm-gemm.wat on the heap
 *   (W's codes converted while B's panels are packed; nothing decoded whole);
 * - `TsdReducedGather`: the gathered rows decoded by core's
 *   `decodeWeightRows` from a view of the codes on the heap straight into the
 *   output's heap memory (no copy of the table, no intermediate tensor).
 */

const MATMUL = 'TsdReducedMatMul';
const GATHER = 'TsdReducedGather';

/** The backend pieces the gather uses, beside those of wasm-gemm.ts. */
interface WasmHeapViews extends WasmBackendInternals {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type WeightAttrs = ReducedGemmWeight & { transposeW: boolean };

let registered = false;

function weightAttrs(attrs: tf.NamedAttrMap): WeightAttrs {
  return attrs as unknown as WeightAttrs;
}

function attrsOf(w: ReducedWeight, transposeW = false): tf.NamedAttrMap {
  return { dtype: w.dtype, rows: w.rows, cols: w.cols, blockSize: w.blockSize, bits: w.bits, transposeW } as unknown as tf.NamedAttrMap;
}

function inputsOf(w: ReducedWeight, extra: Record<string, tf.Tensor>): tf.NamedTensorMap {
  return { codes: w.codes, ...(w.scales === null ? {} : { scales: w.scales }), ...(w.zeroPoints === null ? {} : { zeroPoints: w.zeroPoints }), ...extra };
}

/** The codes (and scales) on the heap as core's `EncodedWeight`: views, valid until the next heap allocation. */
function heapWeight(backend: WasmHeapViews, codes: tf.TensorInfo, scales: tf.TensorInfo | undefined, zeroPoints: tf.TensorInfo | undefined, w: ReducedGemmWeight): EncodedWeight {
  const words = backend.typedArrayFromHeap(codes);
  const packed4 = w.dtype === 'int8' && w.bits === 4;
  const zeroWords = zeroPoints === undefined ? null : backend.typedArrayFromHeap(zeroPoints);
  const scaleCount = w.blockSize === null ? 0 : w.rows * Math.ceil(w.cols / w.blockSize);
  return {
    ...(zeroWords === null ? {} : { zeroPoints: new Int8Array(zeroWords.buffer, zeroWords.byteOffset, scaleCount) }),
    dtype: w.dtype,
    rows: w.rows,
    cols: w.cols,
    codes: new Uint8Array(words.buffer, words.byteOffset, codeByteLength({ dtype: w.dtype, rows: w.rows, cols: w.cols, ...(packed4 ? { bits: 4 as const } : {}) })),
    ...(packed4 ? { bits: 4 as const } : {}),
    scales: scales === undefined ? null : (backend.typedArrayFromHeap(scales) as Float32Array),
    blockSize: w.blockSize,
  };
}

function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: MATMUL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, codes, scales, zeroPoints } = inputs as { x: tf.TensorInfo; codes: tf.TensorInfo; scales?: tf.TensorInfo; zeroPoints?: tf.TensorInfo };
      const w = weightAttrs(attrs ?? {});
      const out = reducedGemmOnHeap(backend as unknown as WasmBackendInternals, x, codes, { scales: scales ?? null, zeroPoints: zeroPoints ?? null }, w, w.transposeW);
      // the op checks wasmGemmActive() first, so this only fails on a heap the kernel cannot use
      if (out === null) throw new TsdError(`${MATMUL}: the wasm kernel cannot run on this heap (shared memory or no SIMD)`, { shape: x.shape });
      return out;
    },
  });
  tf.registerKernel({
    kernelName: GATHER,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { codes, scales, zeroPoints, ids } = inputs as { codes: tf.TensorInfo; scales?: tf.TensorInfo; zeroPoints?: tf.TensorInfo; ids: tf.TensorInfo };
      const heap = backend as unknown as WasmHeapViews;
      const w = weightAttrs(attrs ?? {});
      const rows = Int32Array.from(heap.typedArrayFromHeap(ids));
      const name = (attrs?.['name'] as string | undefined) ?? 'weight';
      const bad = rows.findIndex((row) => !(row >= 0 && row < w.rows));
      if (bad >= 0) throw new ShapeError(`row ${rows[bad]} is outside [0, ${w.rows})`, { tensor: name, shape: [w.rows, w.cols] }); // before any allocation
      const out = heap.makeOutput([rows.length, w.cols], 'float32');
      // views after makeOutput: an allocation may grow (and detach) the heap
      decodeWeightRows(heapWeight(heap, codes, scales, zeroPoints, w), rows, name, heap.typedArrayFromHeap(out) as Float32Array);
      return out;
    },
  });
}

/**
 * Registers the two kernels and routes `reducedMatMul`/`reducedGather` to
 * them while the wasm backend is active with our matmul kernel on (see
 * `setWasmGemmEnabled`); elsewhere the reference path runs. Called by
 * `setupBackend`.
 */
export function installWasmReducedGemm(): void {
  register();
  setReducedKernels({
    matMul: (x, w, transposeW) => (wasmGemmActive() ? (tf.engine().runKernel(MATMUL, inputsOf(w, { x }), attrsOf(w, transposeW)) as tf.Tensor2D) : null),
    gather: (w, ids) => (tf.getBackend() === 'wasm' ? (tf.engine().runKernel(GATHER, inputsOf(w, { ids }), { ...attrsOf(w), name: w.name }) as tf.Tensor2D) : null),
  });
}
