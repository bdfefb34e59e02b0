import * as tf from '@tensorflow/tfjs-core';
import { batchMatMul } from '../backend/ops.js';
import type { LoraBranch } from './lora-branch.js';

/** A launched dash term's frozen bases in the layouts the fused op needs, and the trainable d. */
export interface DashTensors {
  /** V_s as [in, s]. */
  readonly V: tf.Tensor2D;
  /** V_sᵀ as [s, in]. */
  readonly Vt: tf.Tensor2D;
  /** U_s as [out, s]. */
  readonly U: tf.Tensor2D;
  /** U_sᵀ as [s, out]. */
  readonly Ut: tf.Tensor2D;
  readonly d: tf.Variable;
}

/** The frozen weight of a module: W [out, in], and an [in, out] copy where the backend wants one. */
export interface FrozenTensors {
  readonly W: tf.Tensor2D;
  readonly Wt: tf.Tensor2D | null;
}

/**
 * A whole adapted projection y = x·W_effᵀ as ONE op with a hand-written
 * gradient, where W_eff = W + scaling·B·A (+ U_s diag(d) V_sᵀ once LoRA-Dash
 * has launched). With L = [A; V_sᵀ] [K, in], R = [B | U_s] [out, K] and
 * c = [scaling·1_r; d], W_eff = W + R·diag(c)·L and
 *
 *   forward   W_effᵀ = Wᵀ + (Lᵀ ⊙ c)·Rᵀ,  y = x·W_effᵀ,  P = x·Aᵀ, G = x·V_s (kept)
 *   backward  W_eff = W + (R ⊙ c)·L,  dx = dy·W_eff,
 *             dB = scaling·(Pᵀ·dy)ᵀ,  dA = (scaling·dy·B)ᵀ·x,  dd = Σₙ G ⊙ (dy·U_s)
 *
 * Folding the low-rank update into the weight (in·out·K work, K = r + s)
 * replaces the separate adapter products and the [n, out] / [n, in] sums of
 * autodiff, and the dash coefficients cost only the n·s·(in + out) their
 * gradient needs (measured in bench/step.bench.mjs). No [n, in] activation
 * is ever transposed, and the frozen U_s, V_s get no gradient. The rounding
 * differs from PEFT's x·Wᵀ + scaling·(x·Aᵀ)·Bᵀ by fp32 ulps only.
 */
export function adaptedLinear(x: tf.Tensor2D, frozen: FrozenTensors, branch: LoraBranch, dash: DashTensors | null): tf.Tensor2D {
  const r = branch.A.shape[0] as number;
  const scaling = branch.scaling;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xIn, A, B, d] = args.slice(0, -1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D | undefined];
    const c = (d === undefined ? tf.fill([r], scaling) : tf.concat([tf.fill([r], scaling), d])) as tf.Tensor1D;
    const At = tf.transpose(A) as tf.Tensor2D;
    let value: tf.Tensor2D;
    if (frozen.Wt !== null) {
      const Lt = (dash === null ? At : tf.concat([At, dash.V], 1)) as tf.Tensor2D;
      const Rt = (dash === null ? tf.transpose(B) : tf.concat([tf.transpose(B), dash.Ut], 0)) as tf.Tensor2D;
      value = tf.matMul(xIn, tf.add(frozen.Wt, tf.matMul(tf.mul(Lt, c) as tf.Tensor2D, Rt)) as tf.Tensor2D);
    } else {
      value = tf.matMul(xIn, effectiveWeight(frozen.W, A, B, c, dash), false, true);
    }
    // The r LoRA columns and the s dash columns as separate products: measured
    // cheaper on wasm than one concatenated [n, r + s] product plus slices.
    const saved = [xIn, A, B, c, tf.matMul(xIn, At)];
    if (dash !== null) saved.push(tf.matMul(xIn, dash.V));
    save(saved);
    return {
      value,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => {
        const [sx, sA, sB, sc, P, G] = s as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor2D | undefined];
        const dy2 = dy as tf.Tensor2D;
        const dx = tf.matMul(dy2, effectiveWeight(frozen.W, sA, sB, sc, dash));
        // Pᵀ·dy then a small transpose streams dy once; dyᵀ·P would re-read it per 4 rows.
        const dB = tf.mul(tf.transpose(batchMatMul(P, dy2, true)), scaling) as tf.Tensor2D;
        const dA = batchMatMul(tf.mul(tf.matMul(dy2, sB), scaling) as tf.Tensor2D, sx, true);
        if (dash === null || G === undefined) return [dx, dA, dB];
        const dd = tf.sum(tf.mul(G, tf.matMul(dy2, dash.U)), 0);
        return [dx, dA, dB, dd];
      },
    };
  });
  const inputs: tf.Tensor[] = [x, branch.A, branch.B];
  if (dash !== null) inputs.push(dash.d);
  return op(...inputs) as tf.Tensor2D;
}

/**
 * Whether folding a rank-K update into an [out, in] weight is cheaper than
 * applying it as low-rank products to n rows: folding costs ~in·out·(K + 2)
 * per pass (the K-term product and the sum), the products ~n·(K·(in + out) + out).
 * Training batches (n ≈ 10³) fold; generation steps (n ≈ 1) do not.
 */
export function foldPays(rows: number, inFeatures: number, outFeatures: number, rank: number): boolean {
  return rows * (rank * (inFeatures + outFeatures) + outFeatures) > inFeatures * outFeatures * (rank + 2);
}

/** W + (R ⊙ c)·L, [out, in]: the folded weight in Hugging Face layout. */
function effectiveWeight(W: tf.Tensor2D, A: tf.Tensor2D, B: tf.Tensor2D, c: tf.Tensor1D, dash: DashTensors | null): tf.Tensor2D {
  const R = dash === null ? B : (tf.concat([B, dash.U], 1) as tf.Tensor2D);
  const L = dash === null ? A : (tf.concat([A, dash.Vt], 0) as tf.Tensor2D);
  return tf.add(W, tf.matMul(tf.mul(R, c) as tf.Tensor2D, L)) as tf.Tensor2D;
}
