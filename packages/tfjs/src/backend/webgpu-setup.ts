import * as tf from '@tensorflow/tfjs-core';
import { isNode } from './tfjs-registrations.js';
import { describeAdapter, mayHaveHardwareGpu, requestWebGpuAdapter, type WebGpuAdapterOptions } from './webgpu-adapter.js';
import { registerWebGpuBackend, webGpuBackendInfo } from './webgpu-backend.js';

/**
 * The webgpu step of `setupBackend`: makes a `webgpu` backend factory
 * available, or says why not. Returns null when `tf.setBackend('webgpu')` may
 * proceed, else the reason.
 *
 * Automatic selection (`explicit` false) only takes a hardware adapter: on a
 * CPU-only machine a software one (llvmpipe, SwiftShader) trains far slower
 * than wasm. On Linux it does not even load Dawn when no GPU device node
 * exists. An explicit `setupBackend('webgpu')` accepts software adapters
 * (and Dawn's OpenGL ES compatibility mode) unless `allowSoftware: false`.
 */
export async function prepareWebGpu(options: WebGpuAdapterOptions | undefined, explicit: boolean): Promise<string | null> {
  const allowSoftware = options?.allowSoftware ?? explicit;
  const adapterOptions: WebGpuAdapterOptions = { ...options, allowSoftware };
  const existing = webGpuBackendInfo();
  if (existing !== null) {
    return existing.adapter.isSoftware && !allowSoftware ? `the webgpu adapter is a software one (${describeAdapter(existing.adapter)}); wasm is faster on this machine` : null;
  }
  const reasons: string[] = [];
  try {
    if (isNode()) {
      if (!explicit && !(await mayHaveHardwareGpu())) return 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*) on this machine';
      const info = await registerWebGpuBackend(adapterOptions, reasons);
      return info === null ? reasons.join('; ') || 'no WebGPU adapter' : null;
    }
    // Browsers: tfjs's own factory (registered when the app imports
    // @tensorflow/tfjs-backend-webgpu) asks navigator.gpu for the adapter; we
    // only check first that it is one worth using.
    const adapter = await requestWebGpuAdapter(adapterOptions, reasons);
    if (adapter === null) return reasons.join('; ') || 'no WebGPU adapter';
    if (tf.findBackendFactory('webgpu') === null) {
      const specifier = '@tensorflow/tfjs-backend-webgpu';
      await import(/* @vite-ignore */ specifier);
    }
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'webgpu setup failed';
  }
}
