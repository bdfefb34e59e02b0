import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@tsd-peft/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { causalLmLoss, maskedCrossEntropy } from './loss.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** Float64 reference of the masked next-token NLL. */
function referenceLoss(logits: number[][][], ids: number[][], mask: number[][]): number {
  let sum = 0;
  let count = 0;
  logits.forEach((row, b) => {
    for (let t = 0; t + 1 < row.length; t++) {
      const w = mask[b]![t + 1]!;
      if (w === 0) continue;
      const z = row[t]!;
      const max = Math.max(...z);
      const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
      sum += w * (lse - z[ids[b]![t + 1]!]!);
      count += w;
    }
  });
  return sum / count;
}

describe('causalLmLoss', () => {
  const batch = 2;
  const seq = 5;
  const vocab = 7;
  const logitsData = Array.from({ length: batch }, (_, b) => Array.from({ length: seq }, (_, t) => Array.from({ length: vocab }, (_, v) => Math.sin(1 + b * 31 + t * 7 + v * 3) * 2)));
  const ids = [
    [1, 3, 5, 2, 6],
    [4, 0, 1, 1, 0],
  ];
  const mask = [
    [1, 1, 1, 1, 1],
    [1, 1, 1, 0, 0],
  ];

  it('equals a float64 reference with and without a mask', () => {
    const logits = tf.tensor3d(logitsData);
    const idT = tf.tensor2d(ids, undefined, 'int32');
    const full = causalLmLoss(logits, idT).dataSync()[0]!;
    const masked = causalLmLoss(logits, idT, tf.tensor2d(mask)).dataSync()[0]!;
    const ones = mask.map((r) => r.map(() => 1));
    // float32 logsumexp over 7 logits of magnitude ≤ 2: ~1e-6 relative rounding.
    expect(full).toBeCloseTo(referenceLoss(logitsData, ids, ones), 5);
    expect(masked).toBeCloseTo(referenceLoss(logitsData, ids, mask), 5);
  });

  it('has the finite-difference gradient', () => {
    const logits = tf.tensor3d(logitsData);
    const idT = tf.tensor2d(ids, undefined, 'int32');
    const maskT = tf.tensor2d(mask);
    const grad = tf
      .grad((z: tf.Tensor) => causalLmLoss(z as tf.Tensor3D, idT, maskT))(logits)
      .arraySync() as number[][][];
    const h = 1e-4;
    let maxErr = 0;
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < seq; t++) {
        for (let v = 0; v < vocab; v++) {
          const plus = structuredClone(logitsData);
          const minus = structuredClone(logitsData);
          plus[b]![t]![v]! += h;
          minus[b]![t]![v]! -= h;
          const numeric = (referenceLoss(plus, ids, mask) - referenceLoss(minus, ids, mask)) / (2 * h);
          maxErr = Math.max(maxErr, Math.abs(numeric - grad[b]![t]![v]!));
        }
      }
    }
    // Central differences in float64 are exact to ~1e-9; the analytic gradient is float32 (~1e-7).
    expect(maxErr).toBeLessThan(1e-6);
  });
});

describe('maskedCrossEntropy edge cases', () => {
  it('falls back to logsumexp − z when the target probability underflows', () => {
    // a logit gap of 120 nats: softmax gives p = 0 in fp32, −log p would be Infinity
    const z = tf.tensor2d([
      [100, -20, 0],
      [1, 2, 3],
    ]);
    const loss = maskedCrossEntropy(z, tf.tensor1d([1, 2], 'int32'), tf.tensor1d([1, 1])).dataSync()[0]!;
    const lse0 = 100 + Math.log(1 + Math.exp(-120) + Math.exp(-100));
    const lse1 = 3 + Math.log(Math.exp(-2) + Math.exp(-1) + 1);
    expect(loss).toBeCloseTo((lse0 + 20 + (lse1 - 3)) / 2, 4);
  });

  it('agrees with the float64 reference on a wide vocabulary, gradient included', () => {
    const rows = 3;
    const vocab = 4000;
    const data = Array.from({ length: rows }, (_, i) => Array.from({ length: vocab }, (_, v) => 4 * Math.sin(i * 13 + v * 0.7)));
    const targets = [17, 3999, 0];
    const weights = [1, 0, 2];
    const lossOf = (z: tf.Tensor) => maskedCrossEntropy(z as tf.Tensor2D, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights));
    const z = tf.tensor2d(data);
    const value = lossOf(z).dataSync()[0]!;
    const grad = tf.grad(lossOf)(z).arraySync() as number[][];
    let sum = 0;
    let maxErr = 0;
    data.forEach((row, i) => {
      const max = Math.max(...row);
      const denom = row.reduce((s, v) => s + Math.exp(v - max), 0);
      sum += weights[i]! * (max + Math.log(denom) - row[targets[i]!]!);
      row.forEach((v, k) => {
        const expected = ((Math.exp(v - max) / denom - (k === targets[i] ? 1 : 0)) * weights[i]!) / 3;
        maxErr = Math.max(maxErr, Math.abs(expected - grad[i]![k]!));
      });
    });
    // fp32 softmax over 4000 terms: ~1e-6 relative on the loss, ~1e-8 absolute per gradient entry
    expect(value).toBeCloseTo(sum / 3, 5);
    expect(maxErr).toBeLessThan(1e-7);
  });
});
