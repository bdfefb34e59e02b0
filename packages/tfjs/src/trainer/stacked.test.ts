import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupByShape, maxStackElements, stackAll, unstackAll } from './stacked.js';
import { useBackend } from './test-fixtures/backend.js';

const shaped = (shape: number[]) => ({ shape });

describe('groupByShape', () => {
  it('groups by shape in first-seen order and splits a group where its stack would exceed the cap', () => {
    const entries: [string, { shape: number[] }][] = [
      ['a0', shaped([4, 8])],
      ['b0', shaped([8])],
      ['a1', shaped([4, 8])],
      ['a2', shaped([4, 8])],
      ['big0', shaped([100, 100])],
      ['b1', shaped([8])],
      ['big1', shaped([100, 100])],
    ];
    // Cap 64 elements: two [4, 8] per stack; a 10,000-element variable alone.
    expect(groupByShape(entries, 64)).toEqual([
      { shape: [4, 8], names: ['a0', 'a1'] },
      { shape: [4, 8], names: ['a2'] },
      { shape: [8], names: ['b0', 'b1'] },
      { shape: [100, 100], names: ['big0'] },
      { shape: [100, 100], names: ['big1'] },
    ]);
    expect(groupByShape(entries, 1 << 20).map((g) => g.names)).toEqual([
      ['a0', 'a1', 'a2'],
      ['b0', 'b1'],
      ['big0', 'big1'],
    ]);
  });
});

describe('stackAll / unstackAll', () => {
  beforeAll(() => useBackend('cpu'));

  it('round-trip, and a single tensor is reshaped rather than copied', () => {
    const before = tf.memory().numTensors;
    const parts = [tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 4]])];
    const stacked = stackAll(parts);
    expect(stacked.shape).toEqual([2, 1, 2]);
    const slices = unstackAll(stacked, 2, [1, 2]);
    expect(slices.map((t) => Array.from(t.dataSync()))).toEqual([
      [1, 2],
      [3, 4],
    ]);
    const one = stackAll([parts[0] as tf.Tensor]);
    const back = unstackAll(one, 1, [1, 2]);
    expect(one.shape).toEqual([1, 1, 2]);
    expect(back[0]?.shape).toEqual([1, 2]);
    // Same data buffer: no copy for a group of one.
    expect(one.dataId).toBe(parts[0]?.dataId);
    expect(back[0]?.dataId).toBe(parts[0]?.dataId);
    tf.dispose([stacked, ...slices, one, ...back, ...parts]);
    expect(tf.memory().numTensors).toBe(before);
    expect(maxStackElements()).toBe(1 << 15); // a CPU backend: small stacks, kept in cache
  });
});
