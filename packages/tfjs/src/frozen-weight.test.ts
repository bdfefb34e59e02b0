import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, decodeWeight, encodeWeight, ShapeError } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arr, expectGradsMatch, rand } from './backend/grad-check.test-helper.js';
import { setupBackend } from './backend/setup.js';
import { ReducedWeight } from './backend/reduced-weight.js';
import { FrozenWeight } from './frozen-weight.js';

const W: Arr = rand([4, 6]);
const G: Arr = rand([3, 4]);
let weight: tf.Tensor2D;
let g: tf.Tensor;

beforeAll(async () => {
  await setupBackend('wasm');
  weight = tf.tensor2d(Float32Array.from(W.data), [4, 6]);
  g = tf.tensor(Float32Array.from(G.data), [3, 4]);
});
afterAll(() => tf.dispose([weight, g]));

/** Σ G ⊙ (x·Wᵀ) in float64 for a [4, 6] weight's values. */
const projectionLoss =
  (w: ArrayLike<number>) =>
  ([x]: Arr[]): number => {
    let s = 0;
    for (let n = 0; n < 3; n++) {
      for (let o = 0; o < 4; o++) {
        let y = 0;
        for (let i = 0; i < 6; i++) y += ((x as Arr).data[n * 6 + i] as number) * (w[o * 6 + i] as number);
        s += y * (G.data[n * 4 + o] as number);
      }
    }
    return s;
  };
const f64 = projectionLoss(W.data);

describe('FrozenWeight', () => {
  for (const pretranspose of [true, false]) {
    it(`projects x·Wᵀ with the right input gradient (pretranspose ${pretranspose})`, () => {
      const frozen = new FrozenWeight('m', weight, pretranspose);
      expectGradsMatch((x) => tf.sum(tf.mul(frozen.project(x as tf.Tensor2D), g)) as tf.Scalar, f64, [rand([3, 6])]);
      frozen.dispose();
      expect(weight.isDisposed).toBe(false); // borrowed, never disposed
    });
  }

  it('replaces, restores and refuses a wrong shape', () => {
    const frozen = new FrozenWeight('m', weight, true);
    const before = tf.memory().numTensors;
    frozen.replace({ rows: 4, cols: 6, data: new Float32Array(24).fill(1) });
    expect(frozen.isBase).toBe(false);
    expect(frozen.matrix().data[0]).toBe(1);
    expect(frozen.baseMatrix().data).toEqual(Float32Array.from(W.data));
    expect(() => frozen.replace({ rows: 6, cols: 4, data: new Float32Array(24) })).toThrow(ShapeError);
    frozen.restoreBase();
    expect(frozen.isBase).toBe(true);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
    expect(() => frozen.project(tf.zeros([2, 5]) as tf.Tensor2D)).toThrow(/input has 5 features but m expects 6/);
    frozen.dispose();
  });

  for (const dtype of ['bfloat16', 'int8'] as const) {
    it(`over a ${dtype} weight: projects decode(W)·x with the right input gradient, decodes exactly, never pre-transposes`, () => {
      const w = ReducedWeight.fromFloat32(Float32Array.from(W.data), 4, 6, dtype, 'm');
      const decoded = decodeWeight(encodeWeight(Float32Array.from(W.data), 4, 6, dtype, 'm'));
      const frozen = new FrozenWeight('m', w, true);
      expect(frozen.isReduced).toBe(true);
      expect(frozen.foldable).toBe(false);
      expect(frozen.dtype).toBe(dtype);
      expect([frozen.outFeatures, frozen.inFeatures]).toEqual([4, 6]);
      expect(frozen.matrix().data).toEqual(decoded);
      expect(frozen.baseMatrix().data).toEqual(decoded);
      expect(() => frozen.tensor).toThrow(ConfigError);
      expect(() => frozen.tensors()).toThrow(/held as/);
      const before = tf.memory().numTensors;
      const dense = tf.tidy(() => Float32Array.from(frozen.dense().dataSync()));
      expect(dense).toEqual(decoded);
      expect(tf.memory().numTensors).toBe(before); // the decoded copy was freed by the tidy
      // the gradient check in float64 against the decoded weight
      expectGradsMatch((x) => tf.sum(tf.mul(frozen.project(x as tf.Tensor2D), g)) as tf.Scalar, projectionLoss(decoded), [rand([3, 6])]);
      frozen.dispose();
      expect(w.isDisposed).toBe(false); // borrowed
      w.dispose();
    });

    it(`over a ${dtype} weight: a residual is re-encoded in ${dtype}, a merged weight kept fp32, both owned`, () => {
      const w = ReducedWeight.fromFloat32(Float32Array.from(W.data), 4, 6, dtype, 'm');
      const frozen = new FrozenWeight('m', w, undefined);
      const residual = { rows: 4, cols: 6, data: Float32Array.from(W.data, (v) => v * 0.5) };
      tf.tidy(() => frozen.replace(residual)); // survives the caller's tidy
      expect(frozen.isReduced).toBe(true);
      expect(frozen.matrix().data).toEqual(decodeWeight(encodeWeight(residual.data, 4, 6, dtype, 'm')));
      frozen.replace(residual, 'float32');
      expect(frozen.isReduced).toBe(false);
      expect(frozen.matrix().data).toEqual(residual.data);
      frozen.restoreBase();
      expect(frozen.isReduced).toBe(true);
      frozen.dispose();
      w.dispose();
    });
  }
});
