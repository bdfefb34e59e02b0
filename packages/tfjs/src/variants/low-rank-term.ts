import * as tf from '@tensorflow/tfjs-core';
import type { LoraBranch } from './lora-branch.js';

/** A launched dash term's frozen bases in the layouts the fused op needs, and the trainable d. */
export interface DashTensors {
  /** V_s as [in, s] (forward: x·V_s). */
  readonly V: tf.Tensor2D;
  /** V_sᵀ as [s, in] (backward: dP·L). */
  readonly Vt: tf.Tensor2D;
  /** U_s as [out, s] (backward: dy·R). */
  readonly U: tf.Tensor2D;
  /** U_sᵀ as [s, out] (forward: Q·Rᵀ). */
  readonly Ut: tf.Tensor2D;
  readonly d: tf.Variable;
}

/**
 * The LoRA term scaling·(x·Aᵀ)·Bᵀ, plus the LoRA-Dash term ((x·V_s) ⊙ d)·U_sᵀ
 * when `dash` is given, as ONE op with a hand-written gradient. Writing
 * L = [A; V_sᵀ] [K, in], R = [B | U_s] [out, K] and c = [scaling·1_r; d]:
 *
 *   forward   P = x·Lᵀ [n, K],  y = (P ⊙ c)·Rᵀ
 *   backward  dQ = dy·R,  dc = Σₙ dQ ⊙ P (→ dd),  dP = dQ ⊙ c,
 *             dBᵀ = scaling·P_rᵀ·dy,  dA = dP_rᵀ·x,  dx = dP·L
 *
 * Compared with autodiff of the separate terms this runs 2 + 4 matMuls
 * instead of 4 + 6, never transposes an [n, in] activation (only r- or
 * s-wide operands), computes no gradient for the frozen U_s, V_s, and folds
 * the dash directions into the LoRA products, so the dash phase costs a few
 * extra columns in the same kernels.
 */
export function lowRankTerm(x: tf.Tensor2D, branch: LoraBranch, dash: DashTensors | null): tf.Tensor2D {
  const r = branch.A.shape[0] as number;
  const scaling = branch.scaling;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xIn, A, B, d] = args.slice(0, -1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D | undefined];
    const c = d === undefined ? tf.fill([r], scaling) : tf.concat([tf.fill([r], scaling), d]);
    const Lt = dash === null ? tf.transpose(A) : tf.concat([tf.transpose(A), dash.V], 1);
    const Rt = dash === null ? tf.transpose(B) : tf.concat([tf.transpose(B), dash.Ut], 0);
    const P = tf.matMul(xIn, Lt as tf.Tensor2D);
    const value = tf.matMul(tf.mul(P, c) as tf.Tensor2D, Rt as tf.Tensor2D);
    save([xIn, P, A, B, c]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sP, sA, sB, sc] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dy2 = dy as tf.Tensor2D;
        const R = dash === null ? sB : (tf.concat([sB, dash.U], 1) as tf.Tensor2D);
        const L = dash === null ? sA : (tf.concat([sA, dash.Vt], 0) as tf.Tensor2D);
        const dQ = tf.matMul(dy2, R);
        const dP = tf.mul(dQ, sc) as tf.Tensor2D;
        const Pr = dash === null ? sP : (tf.slice(sP, [0, 0], [-1, r]) as tf.Tensor2D);
        const dPr = dash === null ? dP : (tf.slice(dP, [0, 0], [-1, r]) as tf.Tensor2D);
        const dB = tf.transpose(tf.mul(tf.matMul(tf.transpose(Pr), dy2), scaling)) as tf.Tensor2D;
        const dA = tf.matMul(tf.transpose(dPr), sx);
        const dx = tf.matMul(dP, L);
        if (dash === null) return [dx, dA, dB];
        const dd = tf.sum(tf.mul(tf.slice(dQ, [0, r], [-1, -1]), tf.slice(sP, [0, r], [-1, -1])), 0);
        return [dx, dA, dB, dd];
      },
    };
  });
  const inputs: tf.Tensor[] = [x, branch.A, branch.B];
  if (dash !== null) inputs.push(dash.d);
  return op(...inputs) as tf.Tensor2D;
}
