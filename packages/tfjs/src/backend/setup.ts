import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { installedWasmFolder } from '#platform';
import { installEagerBackprop } from './eager-backprop.js';
import { installGradientFixes } from './gradient-fixes.js';
import { installWasmGemm } from './wasm-gemm.js';
import { installWasmDataKernels } from './wasm-data-kernels.js';
import { installWasmReducedGemm } from './wasm-reduced-gemm.js';
import { isNode, registerTfjsGradientsAndChainedOps } from './tfjs-registrations.js';
import type { WebGpuAdapterOptions } from './webgpu-adapter.js';
import { prepareWebGpu } from './webgpu-setup.js';

/** The TF.js backends {@link setupBackend} knows how to load. */
export type BackendName = 'tensorflow' | 'wasm' | 'webgpu' | 'webgl' | 'cpu';

/** Options of {@link setupBackend}. */
export interface BackendOptions {
  /**
   * Where the wasm backend finds its `.wasm` binaries (a folder prefix ending
   * in `/`, or a per-file map, as `setWasmPaths` takes). In Node the default
   * is the installed `@tensorflow/tfjs-backend-wasm/dist/` folder, so it works
   * offline; in browsers the default is tfjs's own (next to the script).
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * WebGPU adapter choice (see `webgpu.md`): `allowSoftware` (default: true
   * when 'webgpu' is preferred explicitly, false in automatic selection),
   * Dawn flags for Node, power preference.
   */
  webgpu?: WebGpuAdapterOptions;
}

/** Candidate order when no backend is preferred. */
const NODE_ORDER: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
const BROWSER_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Packages that register each backend when imported. */
const BACKEND_PACKAGES: Record<BackendName, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
  webgl: '@tensorflow/tfjs-backend-webgl',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let wasmPathsConfigured = false;
/** The backend a previous call activated; later calls without a preference keep it. */
let chosen: string | null = null;

/**
 * Prepares TF.js for training and returns the active backend's name.
 *
 * 1. Registers tfjs-core's gradients and chained ops (importing tfjs-core
 *    alone registers neither), then the wasm-safe BatchMatMul and gather
 *    gradients of `gradient-fixes.ts`, and the engine's eager release of
 *    backward state (`eager-backprop.ts`: each tape node's saved tensors
 *    and output gradients are freed once the backward pass is past it).
 * 2. Picks a backend: `preferred` when given (a {@link ConfigError} says why
 *    it cannot be used — never a silent fallback), else the best available:
 *    in Node `tensorflow` (tfjs-node, only if installed: it is never a
 *    dependency) → `webgpu` → `wasm` → `cpu`; in browsers `webgpu` → `webgl`
 *    → `wasm` → `cpu`. webgpu/webgl/tfjs-node are used when their package is
 *    importable or was already imported by the application; automatic
 *    selection takes webgpu only on a hardware adapter (see `webgpu-setup.ts`).
 *
 * wasm in Node is single-threaded (tfjs 4.22 ships no Node worker support);
 * its `.wasm` files are located inside the installed package
 * (`installedWasmFolder` of `@tsd-peft/tfjs/node`). Safe to call
 * more than once (e.g. by the trainer and by a CLI): without `preferred`, a
 * backend an earlier call activated is kept.
 */
export async function setupBackend(preferred?: BackendName, options: BackendOptions = {}): Promise<string> {
  await registerTfjsGradientsAndChainedOps();
  installGradientFixes();
  installEagerBackprop();
  if (preferred !== undefined) {
    if (!(preferred in BACKEND_PACKAGES)) {
      throw new ConfigError(`unknown backend '${String(preferred)}'; choose one of ${Object.keys(BACKEND_PACKAGES).join(', ')}`);
    }
    const failure = await tryBackend(preferred, options, true);
    if (failure !== null) throw new ConfigError(`backend '${preferred}' is not available: ${failure}`);
    if (preferred === 'cpu') skipNodeBanner();
    chosen = tf.getBackend();
    return chosen;
  }
  // An earlier choice (e.g. the application's explicit one) stands when a library calls this again.
  if (chosen !== null && tf.getBackend() === chosen) return chosen;
  const reasons: string[] = [];
  for (const name of isNode() ? NODE_ORDER : BROWSER_ORDER) {
    const failure = await tryBackend(name, options, false);
    if (failure === null) {
      chosen = tf.getBackend();
      return chosen;
    }
    reasons.push(`${name}: ${failure}`);
  }
  throw new ConfigError(`no TF.js backend could be initialised (${reasons.join('; ')})`);
}

/**
 * tfjs's cpu backend prints an "install tfjs-node" banner on its first write
 * in Node. When the caller named `cpu` (tests pinning exact fp32 rounding, say)
 * that advice is noise; an automatic fallback to cpu still shows it.
 */
function skipNodeBanner(): void {
  const backend = tf.backend() as { firstUse?: boolean };
  if (backend.firstUse === true) backend.firstUse = false;
}

/** Makes `name` the active backend; returns null on success, else the reason. */
async function tryBackend(name: BackendName, options: BackendOptions, explicit: boolean): Promise<string | null> {
  if (name === 'webgpu') {
    // Also when already active: automatic selection must not keep a software adapter.
    const failure = await prepareWebGpu(options.webgpu, explicit);
    if (failure !== null) return failure;
  }
  if (tf.getBackend() === name && isInitialised(name)) return null;
  if (tf.findBackendFactory(name) === null) {
    const loadFailure = await loadBackendPackage(name, options);
    if (loadFailure !== null) return loadFailure;
    if (tf.findBackendFactory(name) === null) return `${BACKEND_PACKAGES[name]} did not register '${name}'`;
  } else if (name === 'wasm') {
    await configureWasmPaths(options);
  }
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return 'initialisation failed';
    await tf.ready();
    if (name === 'wasm') {
      installWasmGemm();
      installWasmDataKernels();
      installWasmReducedGemm();
    }
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function loadBackendPackage(name: BackendName, options: BackendOptions): Promise<string | null> {
  try {
    if (name === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
      await configureWasmPaths(options);
    } else if (name === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
    } else {
      if (name === 'tensorflow' && !isNode()) return 'tfjs-node only runs in Node';
      if (name === 'webgpu') return 'WebGPU is not available here';
      if (name === 'webgl' && isNode()) return 'WebGL is not available in Node';
      // Optional packages: a variable specifier keeps bundlers and tsup from
      // requiring them at build time.
      const specifier = BACKEND_PACKAGES[name];
      await import(/* @vite-ignore */ specifier);
    }
    return null;
  } catch (err) {
    return `${BACKEND_PACKAGES[name]} could not be imported (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
}

async function configureWasmPaths(options: BackendOptions): Promise<void> {
  // setWasmPaths only works before the backend initialises (tf.findBackend would initialise it).
  if (wasmPathsConfigured || isInitialised('wasm')) return;
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (options.wasmPaths !== undefined) {
    wasm.setWasmPaths(options.wasmPaths as Parameters<typeof wasm.setWasmPaths>[0]);
  } else if (isNode()) {
    wasm.setWasmPaths(await installedWasmFolder());
  }
  wasmPathsConfigured = true;
}

/** True when backend `name` has been created (without creating it, unlike `tf.findBackend`). */
function isInitialised(name: string): boolean {
  return name in tf.engine().registry;
}
