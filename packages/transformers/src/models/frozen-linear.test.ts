import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@tsd-peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FrozenLinear } from './frozen-linear.js';
import { useWasmBackend } from './test-backend.test-helper.js';
import type { WeightMap } from './types.js';

beforeAll(useWasmBackend);

describe('FrozenLinear', () => {
  const w = [
    [1, 2, 3],
    [4, 5, 6],
  ];
  const x = [
    [1, 0, -1],
    [2, 1, 0],
  ];
  const xWt = [
    [-2, -2],
    [4, 13],
  ];

  it.each([true, false])('computes x·Wᵀ (pretranspose %s) and its gradient dy·W', (pretranspose) => {
    const weights: WeightMap = new Map([['m.weight', tf.tensor2d(w)]]);
    const lin = new FrozenLinear(weights, { pretranspose });
    const xt = tf.tensor2d(x);
    const y = lin.linear('m', xt);
    expect(y.arraySync()).toEqual(xWt);
    // d/dx Σ (x·Wᵀ ⊙ dy) = dy·W
    const dy = tf.tensor2d([
      [1, 0],
      [0, 2],
    ]);
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(lin.linear('m', input as tf.Tensor2D), dy)))(xt);
    expect(g.arraySync()).toEqual([
      [1, 2, 3],
      [8, 10, 12],
    ]);
    tf.dispose([y, g, dy, xt, ...(weights.values() as IterableIterator<tf.Tensor>)]);
    lin.dispose();
  });

  it('follows a replaced map entry instead of serving a stale transposed copy', () => {
    const weights: WeightMap = new Map([['m.weight', tf.tensor2d(w)]]);
    const lin = new FrozenLinear(weights, { pretranspose: true });
    const xt = tf.tensor2d(x);
    tf.dispose(lin.linear('m', xt));
    const old = weights.get('m.weight')!;
    weights.set('m.weight', tf.mul(old as tf.Tensor, 2));
    old.dispose();
    const y = lin.linear('m', xt);
    expect(y.arraySync()).toEqual(xWt.map((r) => r.map((v) => 2 * v)));
    tf.dispose([y, xt, ...(weights.values() as IterableIterator<tf.Tensor>)]);
    const before = tf.memory().numTensors;
    lin.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  it('names the module on a missing weight or a feature mismatch', () => {
    const weights: WeightMap = new Map([['m.weight', tf.tensor2d(w)]]);
    const lin = new FrozenLinear(weights);
    expect(() => lin.linear('other', tf.tensor2d(x))).toThrow(ConfigError);
    expect(() => lin.linear('m', tf.tensor2d([[1, 2]]))).toThrow(ShapeError);
    expect(() => lin.linear('m', tf.tensor2d([[1, 2]]))).toThrow(/m\.weight/);
    tf.dispose([...(weights.values() as IterableIterator<tf.Tensor>)]);
  });
});
