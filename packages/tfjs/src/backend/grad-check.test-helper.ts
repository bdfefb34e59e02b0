import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { expect } from 'vitest';

/*
 * Gradient checks shared by the tests of custom ops. A tf gradient (fp32) is
 * compared with central finite differences of an independent float64
 * re-implementation of the same forward (h = 1e-5: truncation ~h² and
 * round-off ~1e-16/h are both < 1e-9), so no gradient formula is reused.
 * Tolerance 1e-4 absolute + 1e-4 relative: fp32 sums of ≤ 16 products of
 * O(1) values carry errors ~1e-6, far below it, while a wrong formula,
 * transpose or broadcast reduction gives O(1) errors.
 */

/** A float64 array with a shape. */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

const rng = Rng.fromSeed(7);
/** Uniform(−1, 1) values from a fixed seed. */
export function rand(shape: number[]): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float64Array.from({ length: n }, () => rng.uniform(-1, 1)) };
}

/** Σ xᵢyᵢ in float64. */
export function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (y[i] as number);
  return s;
}

/** Central finite differences of a float64 scalar function of several arrays. */
export function fdGrads(f: (xs: Arr[]) => number, xs: Arr[]): Float64Array[] {
  const h = 1e-5;
  return xs.map((x) => {
    const g = new Float64Array(x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      const v = x.data[i] as number;
      x.data[i] = v + h;
      const up = f(xs);
      x.data[i] = v - h;
      const down = f(xs);
      x.data[i] = v;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  });
}

/** tf gradients (fp32, active backend) of `fTf` at `xs`, compared against float64 FD of `f64`. */
export function expectGradsMatch(fTf: (...ts: tf.Tensor[]) => tf.Scalar, f64: (xs: Arr[]) => number, xs: Arr[]): void {
  const expected = fdGrads(f64, xs);
  const tensors = xs.map((x) => tf.tensor(Float32Array.from(x.data), x.shape));
  const grads = tf.grads(fTf)(tensors);
  grads.forEach((g, i) => {
    const x = xs[i] as Arr;
    expect(g.shape).toEqual(x.shape);
    const got = g.dataSync();
    const want = expected[i] as Float64Array;
    for (let j = 0; j < want.length; j++) {
      expect(Math.abs((got[j] as number) - (want[j] as number))).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(want[j] as number));
    }
  });
  tf.dispose([...tensors, ...grads]);
}
