import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CACHED_LENGTHS } from './length-cache.js';
import { RopeCache, ropeInverseFrequencies, ropeTables, rotateHalfMatrix } from './rope.js';
import { useWasmBackend } from './test-backend.test-helper.js';

beforeAll(useWasmBackend);

describe('RoPE frequencies', () => {
  it('default: 1/θ^(2i/hd), rounded through float32 as transformers computes it', () => {
    const inv = ropeInverseFrequencies(8, 10000, { type: 'default' });
    expect(inv.length).toBe(4);
    // within float32 rounding of the exact values
    [1, 0.1, 0.01, 0.001].forEach((v, i) => expect(Math.abs(inv[i]! - v) / v).toBeLessThan(1e-6));
    inv.forEach((v) => expect(Math.fround(v)).toBe(v));
  });

  it('linear scaling divides every frequency by the factor', () => {
    const base = ropeInverseFrequencies(16, 10000, { type: 'default' });
    const lin = ropeInverseFrequencies(16, 10000, { type: 'linear', factor: 4 });
    base.forEach((v, i) => expect(lin[i]).toBe(Math.fround(v / 4)));
  });

  it('llama3 scaling keeps high frequencies, divides low ones, and interpolates between', () => {
    const s = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;
    const base = ropeInverseFrequencies(128, 500000, { type: 'default' });
    const scaled = ropeInverseFrequencies(128, 500000, s);
    let kept = 0;
    let divided = 0;
    let between = 0;
    base.forEach((f, i) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 8192 / 4) {
        expect(scaled[i]).toBe(f);
        kept++;
      } else if (wavelen > 8192) {
        expect(scaled[i]).toBe(Math.fround(f / 8));
        divided++;
      } else {
        expect(scaled[i]!).toBeLessThanOrEqual(f);
        expect(scaled[i]!).toBeGreaterThanOrEqual(Math.fround(f / 8));
        between++;
      }
    });
    expect(kept * divided * between).toBeGreaterThan(0);
  });

  it('tables duplicate the halves: cos[p, i] = cos[p, i + hd/2] = cos(p·inv_i)', () => {
    const inv = ropeInverseFrequencies(4, 100, { type: 'default' });
    const { cos, sin } = ropeTables(inv, 3);
    expect(cos[2 * 4 + 1]).toBe(cos[2 * 4 + 3]);
    expect(cos[2 * 4 + 1]).toBeCloseTo(Math.cos(2 * inv[1]!), 7);
    expect(sin[1 * 4 + 0]).toBeCloseTo(Math.sin(1), 7);
  });
});

describe('rotate-half and the RoPE cache', () => {
  it('x·R = rotate_half(x) = [−x₂, x₁]', () => {
    const r = tf.tensor2d(rotateHalfMatrix(6), [6, 6]);
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6]]);
    expect(Array.from(tf.matMul(x, r).dataSync())).toEqual([-4, -5, -6, 1, 2, 3]);
    tf.dispose([r, x]);
  });

  it('caches at most CACHED_LENGTHS lengths; later lengths are sliced per call with the same values', () => {
    const cache = new RopeCache(4, 10000, { type: 'default' });
    const start = tf.memory().numTensors;
    for (let len = 1; len <= CACHED_LENGTHS; len++) cache.forLength(len);
    const full = tf.memory().numTensors;
    expect(full - start).toBe(2 * CACHED_LENGTHS + 2); // per-length cos/sin + the two master tables
    const extra = tf.tidy(() => Array.from(cache.forLength(CACHED_LENGTHS + 5).cos.dataSync()));
    expect(tf.memory().numTensors).toBe(full);
    const { cos } = ropeTables(ropeInverseFrequencies(4, 10000, { type: 'default' }), CACHED_LENGTHS + 5);
    expect(extra).toEqual(Array.from(cos));
    // explicit positions gather the same rows
    const gathered = tf.tidy(() => Array.from(cache.forPositions(tf.tensor2d([[3, 0]], [1, 2], 'int32'), 3).sin.dataSync()));
    const tables = ropeTables(ropeInverseFrequencies(4, 10000, { type: 'default' }), 4);
    expect(gathered).toEqual([...tables.sin.subarray(12, 16), ...tables.sin.subarray(0, 4)]);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
