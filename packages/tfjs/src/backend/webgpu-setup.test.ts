import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';
import { isSoftwareAdapterInfo, mayHaveHardwareGpu, requestWebGpuAdapter } from './webgpu-adapter.js';
import { webGpuBackendInfo, webGpuDeviceErrors } from './webgpu-backend.js';
import { needsAsyncReads, prefetchHostValues } from './webgpu-host-reads.js';
import { releaseWebGpuBufferPool, resetPeakGpuMemory, webGpuMemory } from './webgpu-memory.js';

describe('isSoftwareAdapterInfo', () => {
  it('flags software rasterisers and nothing else', () => {
    expect(isSoftwareAdapterInfo({ device: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapterInfo({ description: 'llvmpipe-llvm-15-0-6-256-bits- OpenGL version OpenGL ES 3.2 Mesa 22.3.6' })).toBe(true);
    expect(isSoftwareAdapterInfo({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isSoftwareAdapterInfo({ description: 'llvmpipe' }, false)).toBe(true);
    expect(isSoftwareAdapterInfo({ device: 'lavapipe' })).toBe(true);
    expect(isSoftwareAdapterInfo({ description: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isSoftwareAdapterInfo({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })).toBe(false);
    expect(isSoftwareAdapterInfo({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2 Pro' })).toBe(false);
    expect(isSoftwareAdapterInfo({ vendor: 'intel', description: 'Intel(R) Arc(TM) Graphics' })).toBe(false);
    // An adapter that says it is a fallback one is software whatever its name.
    expect(isSoftwareAdapterInfo({ description: 'Some GPU' }, true)).toBe(true);
  });
});

describe('setupBackend and webgpu', () => {
  it('keeps wasm as the automatic choice on a machine without a GPU, without loading Dawn', async () => {
    const hardware = await mayHaveHardwareGpu();
    const started = performance.now();
    const name = await setupBackend();
    if (!hardware) {
      expect(name).toBe('wasm');
      // No adapter was probed: nothing was registered.
      expect(webGpuBackendInfo()).toBeNull();
      expect(tf.findBackendFactory('webgpu')).toBeNull();
    } else {
      expect(['webgpu', 'wasm']).toContain(name);
    }
    // Picking wasm costs what it did before webgpu existed (wasm init + registrations, a few seconds on 2 cores).
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(needsAsyncReads()).toBe(name !== 'wasm');
  });

  it('refuses a software adapter when told to, and finds one (OpenGL ES, compatibility mode) when allowed', async () => {
    const reasons: string[] = [];
    const strict = await requestWebGpuAdapter({ allowSoftware: false }, reasons);
    const loose = await requestWebGpuAdapter({ allowSoftware: true });
    expect(loose).not.toBeNull();
    if (loose?.info.isSoftware === true) {
      // CPU-only machine (CI): Dawn's Vulkan finds nothing, OpenGL ES gives llvmpipe.
      expect(strict).toBeNull();
      expect(reasons.join('; ')).toMatch(/no adapter from the default backend/);
      expect(loose.info.featureLevel).toBe('compatibility');
      expect(loose.info.backend).toMatch(/^opengl/);
    } else {
      expect(strict?.info.isSoftware).toBe(false);
    }
    if (loose?.info.isSoftware === true) {
      await expect(setupBackend('webgpu', { webgpu: { allowSoftware: false } })).rejects.toBeInstanceOf(ConfigError);
      await expect(setupBackend('webgpu', { webgpu: { allowSoftware: false } })).rejects.toThrow(/software/);
    }
  });

  it("activates 'webgpu' when asked, computes like wasm and reads only asynchronously", async () => {
    const a = Float32Array.from({ length: 48 * 40 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 40 * 24 }, (_, i) => Math.cos(i * 0.7));
    const onWasm = tf.matMul(tf.tensor2d(a, [48, 40]), tf.tensor2d(b, [40, 24]));
    const expected = await onWasm.data();
    onWasm.dispose();

    expect(await setupBackend('webgpu')).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(needsAsyncReads()).toBe(true);
    expect(webGpuBackendInfo()?.maxStorageBufferBindingSize).toBeGreaterThan(0);
    const x = tf.tensor2d(a, [48, 40]);
    const got = tf.matMul(x, tf.tensor2d(b, [40, 24]));
    // 40-term fp32 dot products of O(1) values: 1e-5 absolute covers any summation order.
    const values = await got.data();
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs((values[i] as number) - (expected[i] as number)));
    expect(worst).toBeLessThan(1e-5);

    // A GPU-computed tensor: dataSync would need an OffscreenCanvas read-back; after prefetch it is a host read.
    const y = tf.relu(got);
    await prefetchHostValues([y]);
    expect(y.dataSync()[0]).toBe(Math.max(0, values[0] as number));
    // A later automatic call keeps the explicit choice.
    expect(await setupBackend()).toBe('webgpu');
    tf.dispose([x, got, y]);
  });

  it('tracks peak GPU memory and releases the pooled buffers', async () => {
    await setupBackend('webgpu');
    releaseWebGpuBufferPool();
    resetPeakGpuMemory();
    const before = webGpuMemory();
    expect(before).not.toBeNull();
    const big = tf.tidy(() => tf.add(tf.ones([256, 256]), tf.ones([256, 256])));
    await big.data();
    const during = webGpuMemory();
    // Three [256, 256] fp32 buffers at least (two inputs and the sum).
    expect((during?.peakAllocatedBytes ?? 0) - (before?.allocatedBytes ?? 0)).toBeGreaterThanOrEqual(3 * 256 * 256 * 4);
    big.dispose();
    const pooled = webGpuMemory();
    // Disposed tensors' buffers stay allocated in tfjs's pool …
    expect(pooled?.allocatedBytes).toBeGreaterThan(pooled?.usedBytes ?? 0);
    const released = releaseWebGpuBufferPool();
    const after = webGpuMemory();
    // … until released; the peak keeps the high-water mark.
    expect(released).toBeGreaterThanOrEqual(3 * 256 * 256 * 4);
    expect(after?.allocatedBytes).toBe(after?.usedBytes);
    expect(after?.freeBuffers).toBe(0);
    expect(after?.peakAllocatedBytes).toBe(during?.peakAllocatedBytes);
    // The pool still works afterwards (tfjs's manager keeps its bookkeeping).
    const again = tf.tidy(() => tf.mul(tf.ones([64]), 3));
    expect(Array.from(await again.data()).every((v) => v === 3)).toBe(true);
    again.dispose();
    expect(webGpuDeviceErrors()).toEqual([]);
    expect(await setupBackend('wasm')).toBe('wasm');
    expect(webGpuMemory()).toBeNull();
    expect(releaseWebGpuBufferPool()).toBe(0);
  });
});
