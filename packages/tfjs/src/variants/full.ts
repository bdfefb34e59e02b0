import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, mergeLora, type LoraFactors, type Matrix } from '@tsd-peft/core';
import { matMulT } from '../backend/ops.js';
import { denseAsLora, matrixDifference } from './dense-delta.js';
import type { ModuleContext, Variant } from './variant.js';

/** State of a fully fine-tuned module: W itself as a variable. */
export interface FullState {
  readonly weight: tf.Variable;
}

/** Variable key of the trained weight, as in the Hugging Face state dict. */
export const FULL_WEIGHT_KEY = 'weight';

/**
 * Full fine-tuning baseline: the targeted W itself is trainable (a copy of
 * the original; the caller's tensor is never written). Its "adapter" is the
 * dense ΔW = W_trained − W, exported exactly as a LoRA of rank min(out, in)
 * (one factor an identity), so even this baseline can be saved in PEFT form.
 * It has no native-adapter form: use `mergeAndUnload()` to keep the weights.
 */
export const fullVariant: Variant<FullState> = {
  name: 'full',
  init: (ctx) => {
    // Training W itself needs it in fp32 (and its Adam moments beside it): a reduced base saves nothing there.
    if (ctx.frozen.isReduced) {
      throw new ConfigError(`full fine-tuning trains W itself, but ${ctx.name} is a frozen ${ctx.frozen.dtype} weight; load the model with frozenDtype 'float32' or use an adapter method`, {
        tensor: ctx.name,
        field: 'method',
      });
    }
    return { weight: ctx.createVariable(FULL_WEIGHT_KEY, tf.clone(ctx.frozen.tensor)) };
  },
  forward: (x, s, ctx) => tf.sub(matMulT(x, s.weight as tf.Tensor2D), ctx.frozen.project(x)) as tf.Tensor2D,
  output: (x, s) => matMulT(x, s.weight as tf.Tensor2D) as tf.Tensor2D,
  merge: (s) => fullTrainedWeight(s),
  parts: (s, ctx) => ({ factors: denseAsLora(trainedMinusFrozen(s, ctx)) }),
  setFactors: (factors: LoraFactors, s, ctx) => {
    const merged = mergeLora(ctx.frozen.matrix(), factors, undefined, ctx.name);
    tf.tidy(() => s.weight.assign(tf.tensor2d(merged.data, [merged.rows, merged.cols], 'float32')));
    return s;
  },
  dense: true,
  color: '#4e79a7',
};

/** The trained weight as a core matrix (for merging without the rank-min(out,in) detour). */
export function fullTrainedWeight(s: FullState): Matrix<Float32Array> {
  const [rows, cols] = s.weight.shape as [number, number];
  return { rows, cols, data: Float32Array.from(s.weight.dataSync()) };
}

function trainedMinusFrozen(s: FullState, ctx: ModuleContext): Matrix<Float32Array> {
  return matrixDifference(fullTrainedWeight(s), ctx.frozen.matrix());
}
