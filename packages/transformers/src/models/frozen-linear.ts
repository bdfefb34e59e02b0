import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import { baseWeightShape, isReducedWeight, prefersPretransposedWeights, reducedMatMul, type LinearProvider } from '@tsd-peft/tfjs';
import { requireWeight } from './weights.js';
import type { WeightMap } from './types.js';

/** Options of {@link FrozenLinear}. */
export interface FrozenLinearOptions {
  /**
   * Multiply by cached `Wᵀ` copies (`[in, out]`) instead of `matMul(x, W, false, true)`.
   * It costs one extra copy of each projection weight. Default: tfjs's
   * `prefersPretransposedWeights()`, i.e. only on wasm with the stock matmul,
   * whose transposed operand is slow; the package's wasm kernel runs both
   * layouts alike at training shapes. Turn it on to speed up token-by-token
   * generation (one-row products) when memory allows.
   */
  pretranspose?: boolean;
}

/**
 * The plain (adapter-free) {@link LinearProvider}: `y = x·Wᵀ` with `W` read
 * from the frozen weight map under `<module>.weight` (a reduced-precision W
 * through `reducedMatMul`, which reads its codes in place).
 */
export class FrozenLinear implements LinearProvider {
  private readonly transposed = new Map<string, { source: tf.Tensor; t: tf.Tensor2D }>();
  readonly pretranspose: boolean;

  constructor(
    readonly weights: WeightMap,
    options: FrozenLinearOptions = {},
  ) {
    this.pretranspose = options.pretranspose ?? prefersPretransposedWeights();
  }

  /** `x·Wᵀ` for module `name` (x `[n, in]` → `[n, out]`). */
  linear(name: string, x: tf.Tensor2D): tf.Tensor2D {
    const tensorName = `${name}.weight`;
    const w = requireWeight(this.weights, tensorName);
    const shape = baseWeightShape(w);
    if (shape.length !== 2 || shape[1] !== x.shape[1]) {
      throw new ShapeError(`linear input has ${x.shape[1]} features but the weight is [${shape.join(', ')}]`, {
        tensor: tensorName,
        shape: x.shape,
      });
    }
    if (isReducedWeight(w)) return reducedMatMul(x, w, true);
    if (!this.pretranspose) return tf.matMul(x, w as tf.Tensor2D, false, true);
    return frozenProjection(x, w as tf.Tensor2D, this.transposedWeight(name, w as tf.Tensor2D));
  }

  /** Frees the cached transposed copies (the weight map is untouched). */
  dispose(): void {
    for (const { t } of this.transposed.values()) t.dispose();
    this.transposed.clear();
  }

  private transposedWeight(name: string, w: tf.Tensor2D): tf.Tensor2D {
    const cached = this.transposed.get(name);
    // recompute when the map entry was replaced (e.g. merged weights) or disposed
    if (cached !== undefined && cached.source === w && !cached.source.isDisposed) return cached.t;
    cached?.t.dispose();
    const t = tf.keep(tf.transpose(w));
    this.transposed.set(name, { source: w, t });
    return t;
  }
}

/**
 * `x·Wᵀ` with both operand layouts at hand: the forward multiplies by the
 * cached `Wᵀ` and the backward by `W` (dx = dy·W), so neither direction needs
 * a transposed-operand matmul, which wasm runs several times slower. W is
 * frozen, so only the gradient with respect to x is defined.
 */
function frozenProjection(x: tf.Tensor2D, w: tf.Tensor2D, wt: tf.Tensor2D): tf.Tensor2D {
  const project = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, wt),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, w),
  }));
  return project(x) as tf.Tensor2D;
}
