import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { causalLmLoss } from './loss.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
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
  const logitsData = Array.from({ length: batch }, (_, b) =>
    Array.from({ length: seq }, (_, t) => Array.from({ length: vocab }, (_, v) => Math.sin(1 + b * 31 + t * 7 + v * 3) * 2)),
  );
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
    const grad = tf.grad((z: tf.Tensor) => causalLmLoss(z as tf.Tensor3D, idT, maskT))(logits).arraySync() as number[][][];
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
