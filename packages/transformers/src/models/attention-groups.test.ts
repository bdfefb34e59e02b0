/**
 * The wasm group-split attention against the batched-matmul formulation
 * (tfjs autodiff, the reference) on wasm: same context and same gradients
 * for q, k and v, with grouped-query heads and a padding mask. Both are fp32
 * with different summation order: ~1e-7 relative, so 1e-5 on O(1) values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { setWasmGemmEnabled, wasmGemmActive } from '@tsd-peft/tfjs';
import { attentionBias, CausalMaskCache, groupedQueryAttention } from './attention.js';
import { prefersGroupSplitAttention } from './attention-groups.js';
import { useWasmBackend } from './test-backend.test-helper.js';

beforeAll(useWasmBackend);

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe('group-split attention (wasm)', () => {
  it('equals the batched formulation, forward and backward', () => {
    const [b, t, h, kv, hd] = [2, 7, 6, 2, 4];
    const q = tf.randomNormal([b, t, h, hd], 0, 1, 'float32', 1) as tf.Tensor4D;
    const k = tf.randomNormal([b, t, kv, hd], 0, 1, 'float32', 2) as tf.Tensor4D;
    const v = tf.randomNormal([b, t, kv, hd], 0, 1, 'float32', 3) as tf.Tensor4D;
    const masks = new CausalMaskCache();
    const padding = tf.tensor2d(
      [
        [1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0, 0],
      ],
      undefined,
      'int32',
    );
    const bias = attentionBias(masks.get(t), padding);
    // a fixed random projection of the context, so every output entry carries gradient
    const probe = tf.randomNormal([b * t, h * hd], 0, 1, 'float32', 4);
    const run = (split: boolean) => {
      const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(groupedQueryAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, bias, 0.5, split), probe));
      const out = groupedQueryAttention(q, k, v, bias, 0.5, split);
      return { out, grads: tf.grads(f)([q, k, v]) };
    };
    const split = run(true);
    const batched = run(false);
    expect(split.out.shape).toEqual([b * t, h * hd]);
    expect(maxDiff(split.out, batched.out)).toBeLessThan(1e-5);
    split.grads.forEach((g, i) => {
      const ref = batched.grads[i] as tf.Tensor;
      expect(g.shape).toEqual(ref.shape);
      expect(tf.max(tf.abs(ref)).dataSync()[0]).toBeGreaterThan(0.1); // not vacuous
      expect(maxDiff(g, ref)).toBeLessThan(1e-5);
    });
    masks.dispose();
  });

  it('is chosen on wasm only when the stock matmul kernel runs (ours takes batched products)', () => {
    expect(wasmGemmActive()).toBe(true);
    expect(prefersGroupSplitAttention()).toBe(false);
    setWasmGemmEnabled(false);
    try {
      expect(prefersGroupSplitAttention()).toBe(true);
    } finally {
      setWasmGemmEnabled(true);
    }
  });
});
