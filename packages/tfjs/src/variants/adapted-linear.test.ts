import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Arr, expectGradsMatch, rand } from '../backend/grad-check.test-helper.js';
import { setupBackend } from '../backend/setup.js';
import { adaptedLinear, foldPays, type DashTensors } from './adapted-linear.js';
import type { LoraBranch } from './lora-branch.js';

/*
 * The fused adapted projection's hand-written gradient against float64 finite
 * differences of the plain formula
 *   y = x·Wᵀ + scaling·(x·Aᵀ)·Bᵀ + ((x·V)⊙d)·Uᵀ
 * for x, A, B and d (W, U, V frozen), with and without the pre-transposed
 * weight (tolerances in grad-check.test-helper.ts).
 */
const N = 5;
const IN = 6;
const OUT = 4;
const R = 2;
const S = 3;
const SCALING = 1.5;

beforeAll(async () => {
  await setupBackend('wasm');
});

/** Σ Wsum ⊙ y in float64 (W [OUT,IN], A [R,IN], B [OUT,R], U [OUT,S], V [IN,S], d [S]). */
function f64(x: Arr, A: Arr, B: Arr, W: Arr, weights: Arr, dash?: { U: Arr; V: Arr; d: Arr }): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let y = 0;
      for (let i = 0; i < IN; i++) y += (x.data[n * IN + i] as number) * (W.data[o * IN + i] as number);
      for (let j = 0; j < R; j++) {
        let p = 0;
        for (let i = 0; i < IN; i++) p += (x.data[n * IN + i] as number) * (A.data[j * IN + i] as number);
        y += SCALING * p * (B.data[o * R + j] as number);
      }
      if (dash) {
        for (let j = 0; j < S; j++) {
          let g = 0;
          for (let i = 0; i < IN; i++) g += (x.data[n * IN + i] as number) * (dash.V.data[i * S + j] as number);
          y += g * (dash.d.data[j] as number) * (dash.U.data[o * S + j] as number);
        }
      }
      total += y * (weights.data[n * OUT + o] as number);
    }
  }
  return total;
}

const t = (a: Arr) => tf.tensor(Float32Array.from(a.data), a.shape);
const branchOf = (A: tf.Tensor, B: tf.Tensor) => ({ A, B, scaling: SCALING }) as unknown as LoraBranch;

describe.each([true, false])('adaptedLinear (pre-transposed weight: %s)', (pretransposed) => {
  it('LoRA: value and gradients for x, A, B', () => {
    const [x, A, B, W, G] = [rand([N, IN]), rand([R, IN]), rand([OUT, R]), rand([OUT, IN]), rand([N, OUT])];
    const [Wt, Gt] = [t(W) as tf.Tensor2D, t(G)];
    const frozen = { W: Wt, Wt: pretransposed ? (tf.transpose(Wt) as tf.Tensor2D) : null };
    const f = (xs: tf.Tensor, As: tf.Tensor, Bs: tf.Tensor) => tf.sum(tf.mul(adaptedLinear(xs as tf.Tensor2D, frozen, branchOf(As, Bs), null), Gt)) as tf.Scalar;
    expectGradsMatch(f as (...ts: tf.Tensor[]) => tf.Scalar, ([a, b, c]) => f64(a as Arr, b as Arr, c as Arr, W, G), [x, A, B]);
    const value = f(t(x), t(A), t(B)).dataSync()[0] as number;
    expect(Math.abs(value - f64(x, A, B, W, G))).toBeLessThanOrEqual(1e-4);
    tf.dispose([Wt, Gt, ...(frozen.Wt ? [frozen.Wt] : [])]);
  });

  it('LoRA + dash: value and gradients for x, A, B and d', () => {
    const [x, A, B, W, G, U, V, d] = [rand([N, IN]), rand([R, IN]), rand([OUT, R]), rand([OUT, IN]), rand([N, OUT]), rand([OUT, S]), rand([IN, S]), rand([S])];
    const [Wt, Gt, Ut, Vt] = [t(W) as tf.Tensor2D, t(G), t(U) as tf.Tensor2D, t(V) as tf.Tensor2D];
    const frozen = { W: Wt, Wt: pretransposed ? (tf.transpose(Wt) as tf.Tensor2D) : null };
    const bases = { U: Ut, Ut: tf.transpose(Ut) as tf.Tensor2D, V: Vt, Vt: tf.transpose(Vt) as tf.Tensor2D };
    const f = (xs: tf.Tensor, As: tf.Tensor, Bs: tf.Tensor, ds: tf.Tensor) => {
      const dash = { ...bases, d: ds } as unknown as DashTensors;
      return tf.sum(tf.mul(adaptedLinear(xs as tf.Tensor2D, frozen, branchOf(As, Bs), dash), Gt)) as tf.Scalar;
    };
    expectGradsMatch(f as (...ts: tf.Tensor[]) => tf.Scalar, ([a, b, c, e]) => f64(a as Arr, b as Arr, c as Arr, W, G, { U, V, d: e as Arr }), [x, A, B, d]);
    const value = f(t(x), t(A), t(B), t(d)).dataSync()[0] as number;
    expect(Math.abs(value - f64(x, A, B, W, G, { U, V, d }))).toBeLessThanOrEqual(1e-4);
    tf.dispose([Wt, Gt, Ut, Vt, bases.Ut, bases.Vt, ...(frozen.Wt ? [frozen.Wt] : [])]);
  });
});

describe('foldPays', () => {
  it('folds for training batches and not for single-token steps', () => {
    expect(foldPays(1024, 256, 256, 8)).toBe(true);
    expect(foldPays(1024, 256, 688, 16)).toBe(true);
    expect(foldPays(1, 256, 256, 8)).toBe(false);
    expect(foldPays(16, 576, 1536, 8)).toBe(false);
    // the break-even row count for 256×256, K = 8: in·out·10 / (8·512 + 256) ≈ 150.6
    expect(foldPays(150, 256, 256, 8)).toBe(false);
    expect(foldPays(151, 256, 256, 8)).toBe(true);
  });
});
