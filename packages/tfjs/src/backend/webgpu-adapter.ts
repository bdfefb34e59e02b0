import { ConfigError } from '@tsd-peft/core';
import { hasGpuDeviceNode } from '#platform';
import { isNode } from './tfjs-registrations.js';
import type { GpuAdapterLike, GpuLike } from './webgpu-types.js';

/** What an adapter says about itself (WebGPU's `GPUAdapterInfo`, the fields we use). */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software rasterisers (llvmpipe, lavapipe, SwiftShader, WARP): slower than wasm for training. */
  isSoftware: boolean;
  /** `core`, or `compatibility` when only WebGPU's compatibility mode was available (e.g. Dawn on OpenGL ES). */
  featureLevel: 'core' | 'compatibility';
  /** Dawn backend toggle used in Node (`default`, `opengles`, `opengl`); `browser` in a browser. */
  backend: string;
}

/** Options of {@link requestWebGpuAdapter}. */
export interface WebGpuAdapterOptions {
  /**
   * Accept a software adapter (llvmpipe, SwiftShader …). Automatic backend
   * selection leaves this off so CPU-only machines stay on wasm; tests and an
   * explicit `setupBackend('webgpu')` turn it on.
   */
  allowSoftware?: boolean;
  /**
   * In Node, also try Dawn's OpenGL ES / OpenGL backends in WebGPU
   * compatibility mode when the default backends (Vulkan, Metal, D3D12) give
   * no adapter. On a machine without a GPU this is how Mesa's llvmpipe
   * provides a (slow, real) WebGPU device. Default: same as `allowSoftware`.
   */
  allowCompatibility?: boolean;
  /**
   * Extra Dawn instance toggles for `webgpu`'s `create()`, e.g.
   * `enable-dawn-features=disable_robustness,skip_validation` (faster large
   * matmuls on a real GPU, at the cost of bounds checks). Node only.
   */
  dawnFlags?: readonly string[];
  powerPreference?: 'high-performance' | 'low-power';
}

/** A WebGPU adapter with the `navigator.gpu`-like object it came from. */
export interface WebGpuAdapterHandle {
  gpu: GpuLike;
  adapter: GpuAdapterLike;
  info: WebGpuAdapterInfo;
  /** Node only: `webgpu`'s globals (GPUBufferUsage, GPUMapMode, …) that tfjs's backend reads from globalThis. */
  globals?: Record<string, unknown>;
}

/** The `webgpu` package (Dawn's Node bindings): `create(flags)` → GPU, and its global classes/constants. */
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

const SOFTWARE_PATTERN = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render|\bwarp\b/i;

/** True when the adapter's info names a software rasteriser (or the adapter says it is a fallback one). */
export function isSoftwareAdapterInfo(info: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>, fallbackFlag = false): boolean {
  if (fallbackFlag) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((s) => s !== undefined && SOFTWARE_PATTERN.test(s));
}

/**
 * Linux without any GPU device node (`/dev/dri/renderD*`, `/dev/nvidia*`)
 * cannot have a hardware adapter; automatic selection then skips loading
 * Dawn at all (no 20 MB native module, no driver probing, no stderr noise).
 * Elsewhere (macOS, Windows) it cannot tell, and returns true.
 */
export async function mayHaveHardwareGpu(): Promise<boolean> {
  if (!isNode() || process.platform !== 'linux') return true;
  return hasGpuDeviceNode();
}

let dawn: Promise<DawnModule> | undefined;

/** Imports `webgpu` (an optional peer dependency) once; a {@link ConfigError} says how to install it. */
export async function loadDawnNode(): Promise<DawnModule> {
  dawn ??= (async () => {
    // A variable specifier keeps bundlers from resolving this Node-only package.
    const specifier = 'webgpu';
    try {
      return (await import(/* @vite-ignore */ specifier)) as DawnModule;
    } catch (err) {
      throw new ConfigError(
        `the 'webgpu' package (Dawn's Node bindings) could not be imported; install it next to @tensorflow/tfjs-backend-webgpu (${firstLine(err)})`,
        { tensor: 'webgpu' },
        { cause: err },
      );
    }
  })();
  dawn.catch(() => (dawn = undefined));
  return dawn;
}

/**
 * Finds a WebGPU adapter. In a browser: `navigator.gpu`. In Node: Dawn
 * through the optional `webgpu` package — first its default backends in
 * core mode (a real GPU through Vulkan/Metal/D3D12), then, when allowed,
 * OpenGL ES and OpenGL in compatibility mode (Mesa's llvmpipe on CPU-only
 * Linux; EGL is pointed at its surfaceless platform when no display is set).
 * Returns null when there is none (or only a software one and that is not
 * allowed); the reason is in `reasons`.
 */
export async function requestWebGpuAdapter(options: WebGpuAdapterOptions = {}, reasons: string[] = []): Promise<WebGpuAdapterHandle | null> {
  const allowSoftware = options.allowSoftware ?? false;
  const powerPreference = options.powerPreference ?? 'high-performance';
  if (!isNode()) {
    const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
    if (gpu === undefined) {
      reasons.push('navigator.gpu is undefined (this browser has no WebGPU)');
      return null;
    }
    return accept(gpu, await gpu.requestAdapter({ powerPreference }), 'browser', undefined, allowSoftware, reasons);
  }
  const module = await loadDawnNode();
  const flags = [...(options.dawnFlags ?? [])];
  const defaultGpu = module.create(flags);
  const core = await accept(defaultGpu, await requestOrNull(defaultGpu, { powerPreference }, reasons), 'default', module.globals, allowSoftware, reasons);
  if (core !== null) return core;
  if (!(options.allowCompatibility ?? allowSoftware)) {
    reasons.push("Dawn's OpenGL ES compatibility mode (a software llvmpipe device on CPU-only machines) was not tried: allowSoftware is off");
    return null;
  }
  // Mesa's EGL needs a platform without a window system; this only affects how a display is opened.
  const env = process.env;
  if (process.platform === 'linux' && env.EGL_PLATFORM === undefined && env.DISPLAY === undefined && env.WAYLAND_DISPLAY === undefined) {
    env.EGL_PLATFORM = 'surfaceless';
  }
  for (const backend of ['opengles', 'opengl']) {
    const gpu = module.create([...flags, `backend=${backend}`]);
    const adapter = await requestOrNull(gpu, { powerPreference, featureLevel: 'compatibility' }, reasons);
    const found = await accept(gpu, adapter, backend, module.globals, allowSoftware, reasons);
    if (found !== null) return found;
  }
  return null;
}

async function requestOrNull(gpu: GpuLike, options: Record<string, unknown>, reasons: string[]): Promise<GpuAdapterLike | null> {
  try {
    return await gpu.requestAdapter(options);
  } catch (err) {
    reasons.push(`requestAdapter(${JSON.stringify(options)}) threw: ${firstLine(err)}`);
    return null;
  }
}

async function accept(
  gpu: GpuLike,
  adapter: GpuAdapterLike | null,
  backend: string,
  globals: Record<string, unknown> | undefined,
  allowSoftware: boolean,
  reasons: string[],
): Promise<WebGpuAdapterHandle | null> {
  if (adapter === null) {
    reasons.push(`no adapter from the ${backend} backend`);
    return null;
  }
  const raw = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const text = (s: unknown) => (typeof s === 'string' ? s : '');
  const fields = { vendor: text(raw.vendor), architecture: text(raw.architecture), device: text(raw.device), description: text(raw.description) };
  const fallback = adapter.isFallbackAdapter === true || raw.isFallbackAdapter === true;
  const info: WebGpuAdapterInfo = {
    ...fields,
    isSoftware: isSoftwareAdapterInfo(fields, fallback),
    featureLevel: adapter.featureLevel === 'compatibility' || backend === 'opengles' || backend === 'opengl' ? 'compatibility' : 'core',
    backend,
  };
  if (info.isSoftware && !allowSoftware) {
    reasons.push(`the ${backend} adapter is a software one (${describeAdapter(info)}); wasm is faster on this machine`);
    return null;
  }
  return globals === undefined ? { gpu, adapter, info } : { gpu, adapter, info, globals };
}

/** One line naming an adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) via opengles, compatibility mode`. */
export function describeAdapter(info: WebGpuAdapterInfo): string {
  const name =
    [info.vendor, info.architecture, info.device, info.description]
      .filter((s) => s.length > 0)
      .join(' ')
      .trim() || 'unnamed adapter';
  return `${name} via ${info.backend}${info.featureLevel === 'compatibility' ? ', compatibility mode' : ''}${info.isSoftware ? ', software' : ''}`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
