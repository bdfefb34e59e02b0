import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Arr, expectGradsMatch, rand } from '../backend/grad-check.test-helper.js';
import { setupBackend } from '../backend/setup.js';
import { lowRankTerm, type DashTensors } from './low-rank-term.js';
import type { LoraBranch } from './lora-branch.js';

/*
 * The fused LoRA(+dash) op's hand-written gradient against float64 finite
 * differences of the plain formula y = scaling·(x·Aᵀ)·Bᵀ + ((x·V)⊙d)·Uᵀ,
 * for x, A, B and d (tolerances in grad-check.test-helper.ts).
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

/** Σ W ⊙ y in float64, for x [N,IN], A [R,IN], B [OUT,R], optional U [OUT,S], V [IN,S], d [S]. */
function f64(x: Arr, A: Arr, B: Arr, W: Arr, dash?: { U: Arr; V: Arr; d: Arr }): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let y = 0;
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
      total += y * (W.data[n * OUT + o] as number);
    }
  }
  return total;
}

const t = (a: Arr) => tf.tensor(Float32Array.from(a.data), a.shape);

describe('lowRankTerm', () => {
  it('LoRA only: value and gradients for x, A, B', () => {
    const [x, A, B, W] = [rand([N, IN]), rand([R, IN]), rand([OUT, R]), rand([N, OUT])];
    const Wt = t(W);
    const f = (xs: tf.Tensor, As: tf.Tensor, Bs: tf.Tensor) => {
      const branch = { A: As, B: Bs, scaling: SCALING } as unknown as LoraBranch;
      return tf.sum(tf.mul(lowRankTerm(xs as tf.Tensor2D, branch, null), Wt)) as tf.Scalar;
    };
    expectGradsMatch(f as (...ts: tf.Tensor[]) => tf.Scalar, ([a, b, c]) => f64(a as Arr, b as Arr, c as Arr, W), [x, A, B]);
    Wt.dispose();
  });

  it('LoRA + dash: value and gradients for x, A, B and d (none for the frozen bases)', () => {
    const [x, A, B, W, U, V, d] = [rand([N, IN]), rand([R, IN]), rand([OUT, R]), rand([N, OUT]), rand([OUT, S]), rand([IN, S]), rand([S])];
    const [Wt, Ut, Vt] = [t(W), t(U), t(V)];
    const frozen = { U: Ut as tf.Tensor2D, Ut: tf.transpose(Ut) as tf.Tensor2D, V: Vt as tf.Tensor2D, Vt: tf.transpose(Vt) as tf.Tensor2D };
    const f = (xs: tf.Tensor, As: tf.Tensor, Bs: tf.Tensor, ds: tf.Tensor) => {
      const branch = { A: As, B: Bs, scaling: SCALING } as unknown as LoraBranch;
      const dash = { ...frozen, d: ds } as unknown as DashTensors;
      return tf.sum(tf.mul(lowRankTerm(xs as tf.Tensor2D, branch, dash), Wt)) as tf.Scalar;
    };
    expectGradsMatch(
      f as (...ts: tf.Tensor[]) => tf.Scalar,
      ([a, b, c, e]) => f64(a as Arr, b as Arr, c as Arr, W, { U, V, d: e as Arr }),
      [x, A, B, d],
    );
    // the value itself
    const y = tf.sum(tf.mul(lowRankTerm(t(x) as tf.Tensor2D, { A: t(A), B: t(B), scaling: SCALING } as unknown as LoraBranch,
      { ...frozen, d: t(d) } as unknown as DashTensors), Wt)).dataSync()[0] as number;
    expect(Math.abs(y - f64(x, A, B, W, { U, V, d }))).toBeLessThanOrEqual(1e-4);
    tf.dispose([Wt, Ut, Vt, frozen.Ut, frozen.Vt]);
  });
});
