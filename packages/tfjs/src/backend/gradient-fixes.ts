import * as tf from '@tensorflow/tfjs-core';
import { TsdError } from '@tsd-peft/core';
import { batchMatMul, prefersExplicitTranspose, scatterAddRows, sumToShape, transposeLast2 } from './ops.js';

/**
 * Replacements for two of tfjs-core 4.22's stock gradients, registered by
 * name in tfjs's gradient registry (the same plugin mechanism the library
 * uses), so that any model code — ours or a user's — trains correctly on wasm.
 */

/**
 * BatchMatMul gradient, for every transpose combination (Δ = upstream grad):
 *   C = A·B:   dA = Δ·Bᵀ,   dB = Aᵀ·Δ
 *   C = A·Bᵀ:  dA = Δ·B,    dB = Δᵀ·A
 *   C = Aᵀ·B:  dA = (Δ·Bᵀ)ᵀ… written B·Δᵀ,  dB = A·Δ
 *   C = Aᵀ·Bᵀ: dA = (Δ·B)ᵀ, dB = (A·Δ)ᵀ
 * With tfjs's stock wasm kernel every transpose is an explicit `transpose`
 * followed by a flag-free `matMul` (the flagged kernel is 2–10× slower there;
 * this made a LoRA training step ≈3.6× faster); our wasm kernel
 * (wasm-gemm.ts) and the other backends take the flags directly. Unlike the stock gradient, the result is
 * summed back to each input's shape, so a broadcast 3-D × 2-D product gets a
 * 2-D gradient for its 2-D operand.
 */
export const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    const d = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const explicit = prefersExplicitTranspose();
    const T = (x: tf.Tensor): tf.Tensor => transposeLast2(x);
    const mm = (x: tf.Tensor, y: tf.Tensor, tx: boolean, ty: boolean): tf.Tensor => batchMatMul(x, y, tx, ty);
    let ga: () => tf.Tensor;
    let gb: () => tf.Tensor;
    if (!transposeA && !transposeB) {
      ga = () => mm(d, b, false, true);
      gb = () => mm(a, d, true, false);
    } else if (!transposeA && transposeB) {
      ga = () => mm(d, b, false, false);
      gb = () => mm(d, a, true, false);
    } else if (transposeA && !transposeB) {
      ga = () => (explicit ? T(mm(d, b, false, true)) : mm(b, d, false, true));
      gb = () => mm(a, d, false, false);
    } else {
      ga = () => (explicit ? T(mm(d, b, false, false)) : mm(b, d, true, true));
      gb = () => (explicit ? T(mm(a, d, false, false)) : mm(d, a, true, true));
    }
    return {
      a: () => sumToShape(ga(), a.shape),
      b: () => sumToShape(gb(), b.shape),
    };
  },
};

/**
 * Wraps the stock GatherV2 gradient: where the backend lacks
 * `UnsortedSegmentSum` (wasm), the common axis-0 gather (embedding lookup)
 * gets a host-side scatter-add instead of failing; other backends and other
 * axes keep the stock gradient.
 */
export function gatherGradConfig(stock: tf.GradConfig | undefined): tf.GradConfig {
  return {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved as [tf.Tensor, tf.Tensor];
      const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
      const hasSegmentSum = tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined;
      if (hasSegmentSum && stock !== undefined) return stock.gradFunc(dy, saved, attrs);
      const ax = axis < 0 ? axis + x.rank : axis;
      if (ax !== 0 || (batchDims ?? 0) !== 0) {
        throw new TsdError(`the gradient of gather on axis ${axis} (batchDims ${batchDims}) needs UnsortedSegmentSum, which backend '${tf.getBackend()}' lacks; gather along axis 0 instead`, {
          shape: x.shape,
        });
      }
      const d = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      return {
        x: () => scatterAddRows(d, indices, x.shape[0] as number),
        indices: () => tf.cast(tf.zerosLike(indices), 'float32'),
      };
    },
  };
}

let gatherFix: tf.GradConfig | undefined;

/**
 * Installs {@link batchMatMulGradConfig} and the wasm-safe gather gradient
 * over tfjs's stock ones. Idempotent, and safe to call again after something
 * re-registered tfjs's stock gradients. Must run after tfjs's own gradients
 * are registered, which {@link setupBackend} guarantees.
 */
export function installGradientFixes(): void {
  // tfjs only warns about overriding a gradient in DEBUG mode; the override is intended.
  if (tf.getGradient('BatchMatMul') !== batchMatMulGradConfig) tf.registerGradient(batchMatMulGradConfig);
  const current = tf.getGradient('GatherV2');
  if (current === undefined || current !== gatherFix) {
    gatherFix = gatherGradConfig(current);
    tf.registerGradient(gatherFix);
  }
}
