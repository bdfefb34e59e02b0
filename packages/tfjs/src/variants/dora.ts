import * as tf from '@tensorflow/tfjs-core';
import { combineRecords, loraFactorsRecord, mergeDora, readLoraFactors, recordVector, ShapeError, vectorTensor, type LoraFactors, type Matrix, type StateRecord } from '@tsd-peft/core';
import type { FrozenWeight } from '../frozen-weight.js';
import { denseAsLora, matrixDifference } from './dense-delta.js';
import { assignFactors, loraForward, readFactors, type LoraBranch } from './lora-branch.js';
import { initPlainLora } from './lora.js';
import type { ModuleContext, PeftModule, Variant } from './variant.js';

/** Variable key of the magnitude, PEFT's parameter name (`lora_magnitude_vector.weight`; its files drop `.weight`). */
export const DORA_MAGNITUDE_KEY = 'lora_magnitude_vector.weight';

/** Record name of the magnitude: PEFT's tensor name in its files (`…lora_magnitude_vector`, no `.weight`). */
const MAGNITUDE_RECORD = 'lora_magnitude_vector';

/** State of a DoRA module: the LoRA branch (direction update) and the trainable magnitude m [out]. */
export interface DoraState {
  readonly branch: LoraBranch;
  readonly magnitude: tf.Variable;
}

/** The identity in the forward, a zero gradient in the backward (torch's `detach`). */
const detach = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

/**
 * ‖W + scaling·B·A‖ per output row [out] (PEFT's `get_weight_norm`: the
 * 2-norm over dim 1, with B·A formed as `lora_B(lora_A(I))ᵀ`), detached: DoRA
 * treats the norm as a constant in the backward pass (Liu et al. 2024, §4.3).
 */
function weightNorm(frozen: FrozenWeight, branch: LoraBranch): tf.Tensor1D {
  return tf.tidy(() => {
    const BA = tf.matMul(branch.B, branch.A);
    // A reduced W is decoded here (freed by the tidy): the norm is of decode(W) + s·B·A.
    const norm = tf.norm(tf.add(frozen.dense(), tf.mul(BA, branch.scaling)), 'euclidean', 1);
    return detach(norm) as tf.Tensor1D;
  });
}

/**
 * The DoRA module output, in PEFT's order of operations: with
 * k = m / ‖W + s·B·A‖ (detached) and base = x·Wᵀ,
 * y = base + ((k − 1)·base + k·(s·(x·Aᵀ)·Bᵀ)) = k ⊙ (x·(W + s·B·A)ᵀ).
 */
function doraOutput(x: tf.Tensor2D, s: DoraState, ctx: ModuleContext): tf.Tensor2D {
  return tf.tidy(() => {
    const k = tf.div(s.magnitude, weightNorm(ctx.frozen, s.branch));
    const base = ctx.frozen.project(x);
    const lora = loraForward(x, s.branch);
    return tf.add(base, tf.add(tf.mul(tf.sub(k, 1), base), tf.mul(k, lora))) as tf.Tensor2D;
  });
}

/** The magnitude as float32 (a copy). */
function readMagnitude(s: DoraState): Float32Array {
  return Float32Array.from(s.magnitude.dataSync());
}

function assignMagnitude(s: DoraState, m: Float32Array, ctx: ModuleContext): void {
  if (m.length !== ctx.frozen.outFeatures) {
    throw new ShapeError(`DoRA magnitude holds ${m.length} values for ${ctx.frozen.outFeatures} output rows`, {
      tensor: `${ctx.name}.lora_magnitude_vector`,
      shape: [m.length],
    });
  }
  tf.tidy(() => s.magnitude.assign(tf.tensor1d(m, 'float32')));
}

/** The merged weight (m / ‖W + s·B·A‖) ⊙ (W + s·B·A), through core's `mergeDora`. */
function merged(s: DoraState, ctx: ModuleContext): Matrix<Float32Array> {
  return mergeDora(ctx.frozen.matrix(), readFactors(s.branch), readMagnitude(s), ctx.name);
}

function load(m: PeftModule, s: DoraState, ctx: ModuleContext): DoraState {
  const branch = assignFactors(s.branch, m.factors, ctx);
  const next = { branch, magnitude: s.magnitude };
  // A PEFT file without a magnitude is plain LoRA relative to W: start from m = ‖W + ΔW‖, i.e. ΔW unchanged.
  const magnitude = m.magnitude ?? tf.tidy(() => Float32Array.from(weightNorm(ctx.frozen, branch).dataSync()));
  assignMagnitude(next, magnitude, ctx);
  return next;
}

/**
 * DoRA, weight-decomposed low-rank adaptation (Liu et al. 2024; PEFT
 * `use_dora=True`): W is split into a magnitude m [out] and a direction,
 * and the direction gets the LoRA update, W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖
 * (eq. (5)). Init as PEFT: LoRA's A and B = 0, m = the row norms of W, so
 * training starts at W. A, B and m train; the norm is a constant in the
 * backward pass (§4.3). PEFT files hold `lora_magnitude_vector` [out] and
 * `use_dora: true`; DoRA's state record keeps m under the same name.
 */
export const doraVariant: Variant<DoraState> = {
  name: 'dora',
  color: '#bab0ac',
  init: (ctx) => {
    const { branch } = initPlainLora(ctx);
    const norm = weightNorm(ctx.frozen, branch);
    return { branch, magnitude: ctx.createVariable(DORA_MAGNITUDE_KEY, norm) };
  },
  output: doraOutput,
  forward: (x, s, ctx) => tf.tidy(() => tf.sub(doraOutput(x, s, ctx), ctx.frozen.project(x)) as tf.Tensor2D),
  merge: merged,
  parts: (s, ctx) => ({ factors: denseAsLora(matrixDifference(merged(s, ctx), ctx.frozen.matrix())) }),
  setFactors: (factors: LoraFactors, s, ctx) => load({ factors }, s, ctx),
  peft: {
    config: { use_dora: true },
    save: (s) => ({ factors: readFactors(s.branch), magnitude: readMagnitude(s) }),
    load,
  },
  saveState: (s) => combineRecords(loraFactorsRecord(readFactors(s.branch)), { tensors: { [MAGNITUDE_RECORD]: vectorTensor(readMagnitude(s)) }, meta: {} }),
  loadState: (record: StateRecord, s, ctx) => {
    const at = { module: ctx.name };
    const magnitude = recordVector(record, MAGNITUDE_RECORD, at, Float32Array, ctx.frozen.outFeatures, false);
    return load({ factors: readLoraFactors(record, at), ...(magnitude === undefined ? {} : { magnitude }) }, s, ctx);
  },
};
