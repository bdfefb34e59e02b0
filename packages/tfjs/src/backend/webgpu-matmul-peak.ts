import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';

/** One size of {@link measureMatMulPeak}. */
export interface MatMulTiming {
  /** Square size n of the [n, n] × [n, n] product. */
  n: number;
  /** Mean milliseconds per product over the timed repeats. */
  ms: number;
  /** 2n³ / time, in GFLOP/s. */
  gflops: number;
}

/** What {@link measureMatMulPeak} measured on the active backend. */
export interface MatMulPeak {
  backend: string;
  /** The best size's rate: the denominator of model FLOP utilisation. */
  peakGflops: number;
  timings: MatMulTiming[];
}

/** Options of {@link measureMatMulPeak}. */
export interface MatMulPeakOptions {
  /** Square sizes to try; default [1024, 2048, 4096] (a GPU's peak needs large products). */
  sizes?: readonly number[];
  /** Timed products per size (after one warm-up); default 8. */
  repeats?: number;
}

/**
 * The fp32 matmul throughput of the active backend, as MFU's denominator:
 * for each size, one warm-up product (pipeline compilation, allocation), then
 * `repeats` products issued back to back with a single read-back at the end,
 * so the device runs them as one queue (a read-back after each op measured
 * 5–20× less on an H200). The inputs are N(0, 1) so no kernel takes a
 * zero/denormal shortcut. Works on any backend; on webgpu this is the
 * adapter's own number, which is what a training run can reach.
 */
export async function measureMatMulPeak(options: MatMulPeakOptions = {}): Promise<MatMulPeak> {
  const sizes = options.sizes ?? [1024, 2048, 4096];
  const repeats = options.repeats ?? 8;
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new ConfigError(`matmul sizes must be positive integers, got [${sizes.join(', ')}]`, { field: 'sizes' });
  }
  if (!Number.isInteger(repeats) || repeats < 1) throw new ConfigError(`repeats must be a positive integer, got ${repeats}`, { field: 'repeats' });
  const timings: MatMulTiming[] = [];
  for (const n of sizes) {
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
    try {
      const warm = tf.matMul(a, b);
      await warm.data();
      warm.dispose();
      const started = performance.now();
      let last: tf.Tensor | null = null;
      for (let i = 0; i < repeats; i++) {
        last?.dispose();
        last = tf.matMul(a, b);
      }
      // One read of one element waits for the whole queue (in-order execution).
      const probe = tf.slice(last as tf.Tensor2D, [0, 0], [1, 1]);
      await probe.data();
      const ms = (performance.now() - started) / repeats;
      tf.dispose([probe, last as tf.Tensor]);
      timings.push({ n, ms, gflops: (2 * n ** 3) / (ms * 1e6) });
    } finally {
      tf.dispose([a, b]);
    }
  }
  return { backend: tf.getBackend(), peakGflops: Math.max(...timings.map((t) => t.gflops)), timings };
}
