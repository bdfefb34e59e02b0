import * as tf from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import { AdapterDense } from './adapter-dense.js';

/**
 * An Embedding layer with a LoRA-family adapter. An embedding is a Dense
 * layer over one-hot token ids with kernel E [vocab, dim] (Keras's own
 * layout, [in, out]), so every method, the dash launch, merging and
 * serialisation are {@link AdapterDense}'s; only the products become row
 * gathers: y = E[ids] + scaling·A[ids]·B + ((V_s[ids]) ⊙ d)·U_sᵀ.
 */
export class AdapterEmbedding extends AdapterDense {
  /** @nocollapse */
  static override className = 'TsdAdapterEmbedding';

  override get baseClassName(): string {
    return 'Embedding';
  }

  protected override baseSpec(base: tf.serialization.ConfigDict): { units: number; useBias: boolean; activation: string } {
    const units = base['outputDim'];
    if (typeof units !== 'number') throw new TypeError(`AdapterEmbedding ${this.name}: base config lacks outputDim`);
    return { units, useBias: false, activation: 'linear' };
  }

  protected override inputWidth(): number {
    const vocab = this.base['inputDim'];
    if (typeof vocab !== 'number') throw new TypeError(`AdapterEmbedding ${this.name}: base config lacks inputDim`);
    return vocab;
  }

  protected override rows(x: tf.Tensor): tf.Tensor {
    return tf.reshape(tf.cast(x, 'int32'), [-1]);
  }

  protected override project(ids: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
    return tf.gather(w, ids) as tf.Tensor2D;
  }

  protected override outputShapeOf(shape: readonly (number | null)[]): (number | null)[] {
    return [...shape, this.units];
  }

  /** Keras's Embedding mask: token id 0 is padding when the wrapped layer had `maskZero`. */
  override computeMask(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    if (this.base['maskZero'] !== true) return null as unknown as tf.Tensor; // tfjs's own convention for "no mask"
    const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
    return tf.notEqual(x, tf.zerosLike(x));
  }

  /** Embedding input shapes are [batch, length]; the id width is the vocabulary. */
  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const first = inputShape[0];
    return this.outputShapeOf((Array.isArray(first) ? first : inputShape) as Shape);
  }
}
