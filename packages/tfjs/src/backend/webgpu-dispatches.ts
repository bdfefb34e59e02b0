import * as tf from '@tensorflow/tfjs-core';

/**
 * Compute dispatches of tfjs's `webgpu` backend. Each one costs host time
 * (pipeline lookup, uniforms, bind group, encoding) however small its work,
 * so dispatches per training step tell how much of a step is launch overhead
 * rather than arithmetic. tfjs counts nothing itself; every program it runs
 * goes through `runWebGPUProgram`, which this wraps.
 */

const COUNT = Symbol.for('tsd-peft.webgpu.dispatches');
type Counted = { runWebGPUProgram?: (...args: unknown[]) => unknown; [COUNT]?: number };

/** Starts counting the programs `backend` runs; harmless on other backends and when already counting. */
export function trackWebGpuDispatches(backend: unknown): void {
  const counted = backend as Counted | null;
  if (counted === null || typeof counted.runWebGPUProgram !== 'function' || counted[COUNT] !== undefined) return;
  counted[COUNT] = 0;
  const run = counted.runWebGPUProgram.bind(counted);
  counted.runWebGPUProgram = (...args: unknown[]) => {
    counted[COUNT] = (counted[COUNT] ?? 0) + 1;
    return run(...args);
  };
}

/**
 * Compute programs the active `webgpu` backend has run since it started
 * (read it before and after a step for dispatches per step), or null when
 * another backend is active.
 */
export function webGpuDispatchCount(): number | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as Counted)[COUNT] ?? null;
}
