import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';

/* The eager release of backward state (eager-backprop.ts), on cpu: same values, lower peak, nothing freed too early. */

const N = 4096;
const LAYERS = 12;

/** x → sin(sin(…sin(x))) with LAYERS sines: each node saves its input, and every intermediate gets a gradient. */
function chain(x: tf.Tensor): tf.Scalar {
  let h = x;
  for (let i = 0; i < LAYERS; i++) h = tf.sin(h);
  return tf.sum(h);
}

describe('eager backprop', () => {
  beforeAll(async () => {
    await setupBackend('cpu');
  });

  it('gives the chain rule’s gradient (float64 reference) and leaks nothing', () => {
    const values = Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 2);
    const x = tf.tensor1d(values);
    const before = tf.memory().numTensors;
    const g = tf.grad(chain)(x);
    const got = g.dataSync();
    for (let i = 0; i < N; i += 97) {
      // d/dx sin∘…∘sin = Π cos(h_k), in float64
      let h = values[i] as number;
      let d = 1;
      for (let k = 0; k < LAYERS; k++) {
        d *= Math.cos(h);
        h = Math.sin(h);
      }
      // fp32 products of 12 factors and 12 rounded sines: relative error ~1e-6
      expect(Math.abs((got[i] as number) - d)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(d));
    }
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('holds almost nothing when the backward pass reaches the input, instead of every saved activation and gradient', () => {
    const x = tf.randomNormal([N]);
    const base = tf.memory().numBytes;
    let held = Number.NaN;
    // an identity op whose gradient records the bytes still allocated when the backward pass gets to it (last)
    const probe = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.mul(args[0] as tf.Tensor, 1),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        held = tf.memory().numBytes - base;
        return tf.mul(dy as tf.Tensor, 1);
      },
    }));
    tf.dispose(tf.grad((v: tf.Tensor) => chain(probe(v) as tf.Tensor))(x));
    // tfjs would still hold each sine's saved input (LAYERS × N floats) and every intermediate gradient (LAYERS × N):
    // released eagerly, only the last node's saved input and dy, and a few scalars, remain
    expect(held).toBeLessThan(0.25 * LAYERS * 4 * N);
    x.dispose();
  });

  it('keeps pass-through gradients, caller seeds and requested intermediates alive', () => {
    // a custom op whose gradient hands dy on, unchanged, to both of its inputs
    const both = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [a, b] = args as [tf.Tensor, tf.Tensor];
      return { value: tf.add(a, b), gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [dy as tf.Tensor, dy as tf.Tensor] };
    });
    const x = tf.tensor1d([0.5, -1, 2]);
    const seed = tf.tensor1d([1, 2, 3]);
    const { value, grads } = tf.engine().gradients(
      () => {
        const s = tf.sin(x);
        return both(tf.mul(s, 2), tf.mul(s, 3)) as tf.Tensor;
      },
      [x],
      seed,
    );
    // d/dx (2 sin x + 3 sin x) = 5 cos x, times the seed
    const want = [0.5, -1, 2].map((v, i) => 5 * Math.cos(v) * (i + 1));
    const got = (grads[0] as tf.Tensor).dataSync();
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
    expect(seed.isDisposed).toBe(false);
    expect(Array.from(seed.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([value, ...grads, x, seed]);
  });

  it('leaves second-order gradients to tfjs’s own rule, with the right values', () => {
    const x = tf.tensor1d([0.3, -1.2, 2]);
    const before = tf.memory().numTensors;
    // d²/dx² Σ sin(x)·x = 2cos(x) − x·sin(x)
    const second = tf.grad((v: tf.Tensor) => tf.sum(tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.sin(w), w)))(v)))(x);
    const got = second.dataSync();
    [0.3, -1.2, 2].forEach((v, i) => expect(got[i]).toBeCloseTo(2 * Math.cos(v) - v * Math.sin(v), 5));
    second.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
