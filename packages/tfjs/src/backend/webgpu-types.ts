/**
 * The few WebGPU shapes this package touches, structurally typed so the
 * public declarations need neither `@webgpu/types` nor DOM's WebGPU lib.
 * Any real `GPU` / `GPUAdapter` / `GPUDevice` satisfies them.
 */

/** `navigator.gpu` (or `webgpu`'s `create()` result). */
export interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<GpuAdapterLike | null>;
}

/** A `GPUAdapter`. */
export interface GpuAdapterLike {
  readonly features: ReadonlySet<string>;
  readonly limits: object;
  readonly info?: Record<string, unknown>;
  readonly isFallbackAdapter?: boolean;
  readonly featureLevel?: string;
  requestAdapterInfo?(): Promise<Record<string, unknown>>;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<GpuDeviceLike>;
}

/** A `GPUDevice`. */
export interface GpuDeviceLike {
  readonly limits: object;
  readonly lost: Promise<{ reason?: string; message: string }>;
  destroy(): void;
  addEventListener?(type: 'uncapturederror', listener: (event: { error: { message: string } }) => void): void;
}
