import * as tf from '@tensorflow/tfjs-core';

/** A kernel replacement: the stock kernel runs when it returns null. */
export type WasmKernelReplacement<Backend> = (args: { inputs: tf.NamedTensorInfoMap; attrs: tf.NamedAttrMap; backend: Backend }) => tf.TensorInfo | null;

/**
 * Re-registers tfjs-backend-wasm's kernel `name` so that `replacement` runs
 * first and the stock kernel handles whatever it declines (returns null).
 * `Backend` is the slice of `BackendWasm` the replacement uses. Returns false,
 * changing nothing, when wasm has no such kernel.
 */
export function overrideWasmKernel<Backend>(name: string, replacement: WasmKernelReplacement<Backend>): boolean {
  const stock = tf.getKernel(name, 'wasm');
  if (stock === undefined) return false;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    ...stock,
    kernelFunc: (args) => replacement({ inputs: args.inputs, attrs: args.attrs ?? {}, backend: args.backend as unknown as Backend }) ?? (stock.kernelFunc(args) as tf.TensorInfo),
  });
  return true;
}
