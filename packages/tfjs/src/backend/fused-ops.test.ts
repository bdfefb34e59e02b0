import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Arr, expectGradsMatch, rand } from './grad-check.test-helper.js';
import { fusedCrossEntropyGrad, fusedOpsActive, fusedRmsNorm, fusedRope, fusedSwiGlu, setFusedOpsEnabled } from './fused-ops.js';
import { setupBackend } from './setup.js';

/*
 * The fused wasm ops against the tfjs compositions they replace (the models' own: norms.ts, the Llama MLP,
 * rope.ts), on wasm, and their gradients against float64 finite differences (grad-check.test-helper.ts).
 */

const composedRmsNorm = (x: tf.Tensor2D, w: tf.Tensor, eps: number) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
const composedSwiGlu = (g: tf.Tensor, u: tf.Tensor) => tf.mul(tf.mul(g, tf.sigmoid(g)), u);
/** x·cos + rotate_half(x)·sin, rotate_half as a gather of halves (its own formulation, not rope.ts's matmul). */
function composedRope(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
  const h = x.shape[3] / 2;
  const [lo, hi] = tf.split(x, [h, h], 3);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(hi as tf.Tensor), lo as tf.Tensor], 3), sin));
}

const t = (a: Arr) => tf.tensor(Float32Array.from(a.data), a.shape);
function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] as number) - (y[i] as number)) / (1e-6 + Math.abs(y[i] as number)));
  return worst;
}

/** RoPE tables [tb, T, 1, hd] with duplicated halves, as rope.ts builds them. */
function tables(tb: number, tLen: number, hd: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const c = new Float32Array(tb * tLen * hd);
  const s = new Float32Array(tb * tLen * hd);
  for (let b = 0; b < tb; b++)
    for (let p = 0; p < tLen; p++)
      for (let i = 0; i < hd / 2; i++) {
        const angle = (p + 3 * b) / 10000 ** ((2 * i) / hd);
        for (const j of [i, i + hd / 2]) {
          c[(b * tLen + p) * hd + j] = Math.cos(angle);
          s[(b * tLen + p) * hd + j] = Math.sin(angle);
        }
      }
  return { cos: tf.tensor4d(c, [tb, tLen, 1, hd]), sin: tf.tensor4d(s, [tb, tLen, 1, hd]) };
}

describe('fused wasm ops', () => {
  beforeAll(async () => {
    await setupBackend('wasm');
  });

  it('are active on wasm and decline what they cannot run (callers then compose)', () => {
    expect(fusedOpsActive()).toBe(true);
    expect(fusedRmsNorm(tf.zeros([2, 6]) as tf.Tensor2D, tf.ones([6]), 1e-5)).toBeNull();
    expect(fusedSwiGlu(tf.zeros([3]), tf.zeros([3]))).toBeNull();
    setFusedOpsEnabled(false);
    expect(fusedSwiGlu(tf.zeros([4]), tf.zeros([4]))).toBeNull();
    setFusedOpsEnabled(true);
  });

  it('RMSNorm matches the composition within fp32 summation-order rounding', () => {
    const x = t(rand([64, 576])) as tf.Tensor2D;
    const w = t(rand([576]));
    // the row sum of squares is accumulated in 4 lanes, tfjs's mean in its own order: both are within
    // d·2⁻²⁴ relative of the exact sum, and the rsqrt and 2 products add a few ulps: 1e-5 relative
    expect(maxRelDiff(fusedRmsNorm(x, w, 1e-5) as tf.Tensor, composedRmsNorm(x, w, 1e-5))).toBeLessThan(1e-5);
  });

  it('SwiGLU and RoPE forwards are bit-identical to the compositions', () => {
    const g = t(rand([32, 1536]));
    const u = t(rand([32, 1536]));
    expect(Array.from((fusedSwiGlu(g, u) as tf.Tensor).dataSync())).toEqual(Array.from(composedSwiGlu(g, u).dataSync()));
    for (const tb of [1, 2]) {
      const x = t(rand([2, 5, 3, 16])) as tf.Tensor4D;
      const { cos, sin } = tables(tb, 5, 16);
      expect(Array.from((fusedRope(x, cos, sin) as tf.Tensor).dataSync())).toEqual(Array.from(composedRope(x, cos, sin).dataSync()));
    }
  });

  it('RMSNorm gradients (x and weight) match finite differences', () => {
    const eps = 1e-5;
    const f64 = ([x, w, p]: Arr[]) => {
      const [rows, d] = (x as Arr).shape as [number, number];
      let s = 0;
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let j = 0; j < d; j++) ss += ((x as Arr).data[r * d + j] as number) ** 2;
        const inv = 1 / Math.sqrt(ss / d + eps);
        for (let j = 0; j < d; j++) s += ((x as Arr).data[r * d + j] as number) * inv * ((w as Arr).data[j] as number) * ((p as Arr).data[r * d + j] as number);
      }
      return s;
    };
    const p = rand([3, 8]);
    expectGradsMatch(
      (x, w) => tf.sum(tf.mul(fusedRmsNorm(x as tf.Tensor2D, w as tf.Tensor, eps) as tf.Tensor, t(p))),
      (xs) => f64([...xs, p]),
      [rand([3, 8]), rand([8])],
    );
  });

  it('SwiGLU gradients (gate and up) match finite differences', () => {
    const p = rand([2, 8]);
    const f64 = ([g, u]: Arr[]) => (g as Arr).data.reduce((s, gv, i) => s + (gv / (1 + Math.exp(-gv))) * ((u as Arr).data[i] as number) * (p.data[i] as number), 0);
    expectGradsMatch((g, u) => tf.sum(tf.mul(fusedSwiGlu(g as tf.Tensor, u as tf.Tensor) as tf.Tensor, t(p))), f64, [rand([2, 8]), rand([2, 8])]);
  });

  it('RoPE gradient matches finite differences, with shared and per-batch tables', () => {
    for (const tb of [1, 2]) {
      const { cos, sin } = tables(tb, 3, 8);
      const [c, s] = [cos.dataSync(), sin.dataSync()];
      const p = rand([2, 3, 2, 8]);
      const f64 = ([x]: Arr[]) => {
        let total = 0;
        for (let b = 0; b < 2; b++)
          for (let q = 0; q < 3; q++)
            for (let h = 0; h < 2; h++)
              for (let i = 0; i < 8; i++) {
                const row = ((b * 3 + q) * 2 + h) * 8;
                const tab = ((tb === 1 ? 0 : b) * 3 + q) * 8;
                const rot = i < 4 ? -((x as Arr).data[row + i + 4] as number) : ((x as Arr).data[row + i - 4] as number);
                total += (((x as Arr).data[row + i] as number) * (c[tab + i] as number) + rot * (s[tab + i] as number)) * (p.data[row + i] as number);
              }
        return total;
      };
      expectGradsMatch((x) => tf.sum(tf.mul(fusedRope(x as tf.Tensor4D, cos, sin) as tf.Tensor, t(p))), f64, [rand([2, 3, 2, 8])]);
    }
  });

  it('the cross-entropy backward is bit-identical to probs·scale − scatter(scale at targets), and checks targets', () => {
    const [rows, vocab] = [6, 20];
    const probs = tf.softmax(t(rand([rows, vocab]))) as tf.Tensor2D;
    const targets = tf.tensor1d([0, 19, 7, 7, 3, 12], 'int32');
    const scale = t(rand([rows])) as tf.Tensor1D;
    const flat = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), targets);
    const hot = tf.reshape(tf.scatterND(tf.reshape(flat, [rows, 1]), scale, [rows * vocab]), [rows, vocab]);
    const composed = tf.sub(tf.mul(probs, tf.reshape(scale, [rows, 1])), hot);
    expect(Array.from((fusedCrossEntropyGrad(probs, targets, scale) as tf.Tensor).dataSync())).toEqual(Array.from(composed.dataSync()));
    expect(() => fusedCrossEntropyGrad(probs, tf.tensor1d([0, 20, 0, 0, 0, 0], 'int32'), scale)).toThrow(/target 20 at row 1/);
  });
});
