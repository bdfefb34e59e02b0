import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { isNode } from './tfjs-registrations.js';
import { describeAdapter, requestWebGpuAdapter, type WebGpuAdapterInfo, type WebGpuAdapterOptions } from './webgpu-adapter.js';
import type { GpuDeviceLike } from './webgpu-types.js';
import { trackWebGpuDispatches } from './webgpu-dispatches.js';
import { trackPeakGpuMemory } from './webgpu-memory.js';

/** What {@link registerWebGpuBackend} set up. */
export interface WebGpuBackendInfo {
  adapter: WebGpuAdapterInfo;
  /** The device's largest storage binding in bytes (one tensor cannot exceed it). */
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** Dawn instance toggles the device was created with (Node; empty in browsers). */
  dawnFlags: string[];
}

/** The tfjs WebGPU backend class (its constructor is all we need). */
type WebGpuBackendClass = new (device: GpuDeviceLike, adapterInfo?: unknown) => tf.KernelBackend;

let registered: { info: WebGpuBackendInfo; device: GpuDeviceLike } | null = null;

/** The adapter behind the registered `webgpu` backend, or null before {@link registerWebGpuBackend} succeeded. */
export function webGpuBackendInfo(): WebGpuBackendInfo | null {
  return registered?.info ?? null;
}

/**
 * Registers tfjs's `webgpu` backend on a device of our choosing (it does not
 * activate it: `setupBackend('webgpu')` does). tfjs's own registration asks
 * `navigator.gpu` for a core-mode adapter only; here the adapter comes from
 * {@link requestWebGpuAdapter} (Dawn's Node bindings in Node, with the
 * OpenGL ES compatibility-mode fallback), and the device gets every limit the
 * adapter has (compatibility mode's defaults are too small for tfjs's kernels).
 * In Node it also installs what tfjs's backend reads from globals:
 * `navigator.gpu` and `webgpu`'s `GPUBufferUsage`, `GPUMapMode`, ….
 *
 * Returns null (reasons appended to `reasons`) when there is no suitable
 * adapter; throws {@link ConfigError} when `@tensorflow/tfjs-backend-webgpu`
 * or, in Node, `webgpu` is not installed. Idempotent.
 */
export async function registerWebGpuBackend(options: WebGpuAdapterOptions = {}, reasons: string[] = []): Promise<WebGpuBackendInfo | null> {
  if (registered !== null) return registered.info;
  const handle = await requestWebGpuAdapter(options, reasons);
  if (handle === null) return null;
  const { adapter, gpu, globals } = handle;
  if (globals !== undefined) {
    const g = globalThis as Record<string, unknown>;
    for (const [key, value] of Object.entries(globals)) if (g[key] === undefined) g[key] = value;
  }
  installNavigatorGpu(gpu);
  const WebGPUBackend = await importBackendClass();

  const requiredLimits: Record<string, number> = {};
  // Limits are getters on the prototype: for…in sees them, Object.keys does not.
  for (const key in adapter.limits) {
    const value = (adapter.limits as Record<string, unknown>)[key];
    if (typeof value === 'number') requiredLimits[key] = value;
  }
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  device.addEventListener?.('uncapturederror', (event) => reportDeviceError(event.error.message));
  void device.lost.then((lost) => {
    if (registered?.device === device) reportDeviceError(`device lost (${lost.reason ?? 'unknown'}): ${lost.message}`);
  });
  const rawInfo = adapter.info ?? {};
  const info: WebGpuBackendInfo = {
    adapter: handle.info,
    maxStorageBufferBindingSize: requiredLimits.maxStorageBufferBindingSize ?? 0,
    maxBufferSize: requiredLimits.maxBufferSize ?? 0,
    dawnFlags: isNode() ? [...(options.dawnFlags ?? [])] : [],
  };
  if (tf.findBackendFactory('webgpu') !== null) {
    if ('webgpu' in tf.engine().registry) {
      throw new ConfigError('a webgpu backend is already initialised on another device; call registerWebGpuBackend before any setBackend("webgpu")', {
        tensor: 'webgpu',
      });
    }
    tf.removeBackend('webgpu');
  }
  // Priority 1 (below wasm's 2): tfjs's implicit pick stays wasm; setupBackend decides explicitly.
  tf.registerBackend(
    'webgpu',
    () => {
      const backend = new WebGPUBackend(device, rawInfo);
      trackPeakGpuMemory(backend);
      trackWebGpuDispatches(backend);
      return backend;
    },
    1,
  );
  registered = { info, device };
  return info;
}

/** One line on which adapter the `webgpu` backend runs on (for logs and bench reports). */
export function describeWebGpuBackend(): string {
  return registered === null ? 'webgpu backend not registered' : describeAdapter(registered.info.adapter);
}

function installNavigatorGpu(gpu: unknown): void {
  if (!isNode()) return;
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (g.navigator.gpu === undefined) {
    // Node ≥ 21 has a navigator without gpu.
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  }
}

async function importBackendClass(): Promise<WebGpuBackendClass> {
  const specifier = '@tensorflow/tfjs-backend-webgpu';
  try {
    const module = (await import(/* @vite-ignore */ specifier)) as { WebGPUBackend?: WebGpuBackendClass };
    if (module.WebGPUBackend === undefined) throw new Error('it exports no WebGPUBackend');
    return module.WebGPUBackend;
  } catch (err) {
    throw new ConfigError(`${specifier} could not be imported (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`, { tensor: 'webgpu' }, { cause: err });
  }
}

const seenErrors = new Set<string>();

/**
 * Distinct validation errors and device losses the webgpu device reported
 * (each also logged once as a warning). WebGPU reports them asynchronously
 * and tfjs never checks, so a run can look fine while a command buffer was
 * dropped: tests and benches assert this stays empty.
 */
export function webGpuDeviceErrors(): string[] {
  return [...seenErrors];
}

function reportDeviceError(message: string): void {
  // Validation errors repeat per dispatch; one warning per distinct message is enough to act on.
  if (seenErrors.has(message) || seenErrors.size > 20) return;
  seenErrors.add(message);
  console.warn(`[tsd-peft webgpu] ${message}`);
}
