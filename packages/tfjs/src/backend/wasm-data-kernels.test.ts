import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';

beforeAll(async () => {
  expect(await setupBackend('wasm')).toBe('wasm');
});

describe('wasm data-movement kernels', () => {
  it('Identity (tf.clone) shares the data, which outlives the original', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const buffers = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    expect(tf.memory().numDataBuffers).toBe(buffers); // no copy
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
  });

  it('Cast to the same dtype shares the data; to another dtype it converts', () => {
    const x = tf.tensor1d([1.5, -2.5, 3], 'float32');
    const same = tf.cast(x, 'float32');
    const ints = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.5, 3]);
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([same, ints]);
  });

  it('GatherV2 on axis 0 copies whole rows for any index shape and row shape', () => {
    const table = tf.tensor3d(
      Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => i),
      [5, 2, 3],
    );
    const ids = tf.tensor2d([4, 0, 2, 2], [2, 2], 'int32');
    const out = tf.gather(table, ids);
    expect(out.shape).toEqual([2, 2, 2, 3]);
    const rows = [4, 0, 2, 2].flatMap((r) => Array.from({ length: 6 }, (_, j) => r * 6 + j));
    expect(Array.from(out.dataSync())).toEqual(rows);
    tf.dispose([table, ids, out]);
  });

  it('GatherV2 rejects an out-of-range index with a ShapeError naming it', () => {
    const table = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const ids = tf.tensor1d([1, 7], 'int32');
    expect(() => tf.gather(table, ids)).toThrow(ShapeError);
    expect(() => tf.gather(table, ids)).toThrow(/index 7 at position 1 is outside \[0, 2\)/);
    tf.dispose([table, ids]);
  });

  it('GatherV2 on another axis runs the stock kernel', () => {
    const table = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const ids = tf.tensor1d([2, 0], 'int32');
    const out = tf.gather(table, ids, 1);
    expect(Array.from(out.dataSync())).toEqual([3, 1, 6, 4]);
    tf.dispose([table, ids, out]);
  });
});
