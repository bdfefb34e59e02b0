import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@tsd-peft/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { maskedNextTokenLoss } from './lm-loss.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

/** float64 reference: mean over counted targets of logsumexp(z) − z[target]. */
function reference(z: number[][][], ids: number[][], mask: number[][]): number {
  let sum = 0;
  let n = 0;
  ids.forEach((row, b) => {
    for (let t = 1; t < row.length; t++) {
      if (mask[b]?.[t] !== 1) continue;
      const logits = z[b]?.[t - 1] as number[];
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((a, v) => a + Math.exp(v - max), 0));
      sum += lse - (logits[row[t] as number] as number);
      n += 1;
    }
  });
  return sum / n;
}

describe('maskedNextTokenLoss', () => {
  const z = [
    [[0.1, 2, -1, 0.5], [1, 1, 1, 1], [3, -2, 0, 0.2]],
    [[-0.5, 0.3, 0.8, 0], [2, 0, -1, 1.5], [0, 0, 0, 0]],
  ];
  const ids = [[0, 1, 3], [2, 3, 0]];
  const mask = [[0, 1, 1], [0, 1, 0]];

  it('equals the float64 mean NLL over counted targets (fp32: 1e-6 on values ~1)', () => {
    const loss = maskedNextTokenLoss(tf.tensor3d(z), ids, mask);
    expect(loss.dataSync()[0]).toBeCloseTo(reference(z, ids, mask), 6);
  });

  it('has the gradient of central finite differences of the float64 loss (step 1e-3, tol 1e-4)', () => {
    const grad = tf.grad((x: tf.Tensor) => maskedNextTokenLoss(x as tf.Tensor3D, ids, mask))(tf.tensor3d(z)).arraySync() as number[][][];
    const h = 1e-3;
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 3; t++) {
        for (let v = 0; v < 4; v++) {
          const plus = structuredClone(z);
          const minus = structuredClone(z);
          const p = plus[b]?.[t] as number[];
          const m = minus[b]?.[t] as number[];
          p[v] = (p[v] as number) + h;
          m[v] = (m[v] as number) - h;
          const fd = (reference(plus, ids, mask) - reference(minus, ids, mask)) / (2 * h);
          expect(grad[b]?.[t]?.[v]).toBeCloseTo(fd, 4);
        }
      }
    }
  });
});
