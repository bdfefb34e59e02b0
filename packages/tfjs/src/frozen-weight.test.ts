import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arr, expectGradsMatch, rand } from './backend/grad-check.test-helper.js';
import { setupBackend } from './backend/setup.js';
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

/** Σ G ⊙ (x·Wᵀ) in float64. */
function f64([x]: Arr[]): number {
  let s = 0;
  for (let n = 0; n < 3; n++) {
    for (let o = 0; o < 4; o++) {
      let y = 0;
      for (let i = 0; i < 6; i++) y += ((x as Arr).data[n * 6 + i] as number) * (W.data[o * 6 + i] as number);
      s += y * (G.data[n * 4 + o] as number);
    }
  }
  return s;
}

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
});
