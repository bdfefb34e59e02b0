import * as tf from '@tensorflow/tfjs-core';
import { validateLoraFactors, type LoraFactors } from '@tsd-peft/core';
import { matMulT } from '../backend/ops.js';
import { adaptedLinear, foldPays } from './adapted-linear.js';
import type { ModuleContext } from './variant.js';

/**
 * The LoRA branch shared by every low-rank variant: trainable A [r, in] and
 * B [out, r] in PEFT's layout, and the fixed scaling, so the branch adds
 * x·(scaling·B·A)ᵀ (Hu et al. 2021).
 */
export interface LoraBranch {
  readonly A: tf.Variable;
  readonly B: tf.Variable;
  readonly scaling: number;
}

/** Variable keys, PEFT's tensor names without the `base_model.model.<module>.` prefix. */
export const LORA_A_KEY = 'lora_A.weight';
export const LORA_B_KEY = 'lora_B.weight';

/** Creates the A and B variables of a module from initial factors (validated against the weight). */
export function createLoraBranch(ctx: ModuleContext, factors: LoraFactors): LoraBranch {
  validateLoraFactors(factors, { rows: ctx.frozen.outFeatures, cols: ctx.frozen.inFeatures }, ctx.name);
  const A = ctx.createVariable(LORA_A_KEY, tf.tensor2d(factors.A.data, [factors.A.rows, factors.A.cols], 'float32'));
  const B = ctx.createVariable(LORA_B_KEY, tf.tensor2d(factors.B.data, [factors.B.rows, factors.B.cols], 'float32'));
  return { A, B, scaling: factors.scaling };
}

/**
 * The branch's term ((x·Aᵀ)·Bᵀ)·scaling for x [n, in], with plain autodiff
 * ops in PEFT's order of operations (the reference semantics; the training
 * path uses {@link loraOutput}).
 */
export function loraForward(x: tf.Tensor2D, branch: LoraBranch): tf.Tensor2D {
  return tf.tidy(() => {
    const h = matMulT(x, branch.A as tf.Tensor2D) as tf.Tensor2D;
    return tf.mul(matMulT(h, branch.B as tf.Tensor2D), branch.scaling) as tf.Tensor2D;
  });
}

/**
 * The module output x·(W' + scaling·B·A)ᵀ: through the fused op of
 * `adapted-linear.ts` when folding pays for this many rows (training
 * batches), else as x·W'ᵀ plus the low-rank term (e.g. generation).
 */
export function loraOutput(x: tf.Tensor2D, branch: LoraBranch, ctx: ModuleContext): tf.Tensor2D {
  const { outFeatures, inFeatures } = ctx.frozen;
  if (ctx.frozen.foldable && foldPays(x.shape[0], inFeatures, outFeatures, branch.A.shape[0] as number)) {
    return adaptedLinear(x, ctx.frozen.tensors(), branch, null);
  }
  return tf.tidy(() => tf.add(ctx.frozen.project(x), loraForward(x, branch)) as tf.Tensor2D);
}

/** The branch's current factors as float32 core matrices (copies). */
export function readFactors(branch: LoraBranch): LoraFactors {
  const [r, inDim] = branch.A.shape as [number, number];
  const out = branch.B.shape[0] as number;
  return {
    A: { rows: r, cols: inDim, data: Float32Array.from(branch.A.dataSync()) },
    B: { rows: out, cols: r, data: Float32Array.from(branch.B.dataSync()) },
    scaling: branch.scaling,
  };
}

/**
 * Overwrites A and B in place (same variables, so the trainer keeps tracking
 * them) and returns the branch with the factors' scaling. A factor pair of
 * another rank (e.g. a PEFT adapter with a `rank_pattern`) replaces the
 * variables instead — only sensible before training starts.
 */
export function assignFactors(branch: LoraBranch, factors: LoraFactors, ctx: ModuleContext): LoraBranch {
  validateLoraFactors(factors, { rows: ctx.frozen.outFeatures, cols: ctx.frozen.inFeatures }, ctx.name);
  if (factors.A.rows !== branch.A.shape[0]) {
    ctx.removeVariable(LORA_A_KEY);
    ctx.removeVariable(LORA_B_KEY);
    return createLoraBranch(ctx, factors);
  }
  tf.tidy(() => {
    branch.A.assign(tf.tensor2d(factors.A.data, [factors.A.rows, factors.A.cols], 'float32'));
    branch.B.assign(tf.tensor2d(factors.B.data, [factors.B.rows, factors.B.cols], 'float32'));
  });
  return { A: branch.A, B: branch.B, scaling: factors.scaling };
}
