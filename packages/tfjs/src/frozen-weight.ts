import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, type Matrix } from '@tsd-peft/core';
import { prefersPretransposedWeights } from './backend/ops.js';

/**
 * One frozen weight W [out, in] (Hugging Face layout) and the projection
 * x·Wᵀ. It is never a tf.Variable, so it gets no gradient and no optimizer
 * state. With `pretranspose`, an [in, out] copy is made once so each forward
 * is a plain `matMul` (on wasm the transposed matMul is much slower).
 *
 * The weight may be *borrowed* (the caller's tensor, never disposed here) or
 * *owned* (a residual W' or a merged weight this object created).
 */
export class FrozenWeight {
  private w: tf.Tensor2D;
  private wT: tf.Tensor2D | null = null;
  private owned: boolean;

  constructor(
    readonly name: string,
    private readonly base: tf.Tensor2D,
    private readonly pretranspose: boolean | undefined,
  ) {
    if (base.rank !== 2) throw new ShapeError('a frozen linear weight must be 2-D', { tensor: name, shape: base.shape });
    this.w = base;
    this.owned = false;
  }

  /** True while W is the borrowed original (not a residual or merged replacement). */
  get isBase(): boolean {
    return this.w === this.base;
  }

  /** The original borrowed weight tensor (do not dispose it). */
  get baseTensor(): tf.Tensor2D {
    return this.base;
  }

  /** A float32 copy of the original borrowed weight, whatever W currently is. */
  baseMatrix(): Matrix<Float32Array> {
    return { rows: this.outFeatures, cols: this.inFeatures, data: Float32Array.from(this.base.dataSync()) };
  }

  /** Goes back to the borrowed original weight, freeing any replacement. */
  restoreBase(): void {
    if (this.isBase) return;
    this.release();
    this.w = this.base;
  }

  /** Output features (rows of W). */
  get outFeatures(): number {
    return this.w.shape[0];
  }

  /** Input features (columns of W). */
  get inFeatures(): number {
    return this.w.shape[1];
  }

  /** The weight tensor [out, in] (do not dispose it). */
  get tensor(): tf.Tensor2D {
    return this.w;
  }

  /**
   * W [out, in] and, when pre-transposing, the [in, out] copy (for ops that
   * fold adapters into the weight; do not dispose them).
   */
  tensors(): { W: tf.Tensor2D; Wt: tf.Tensor2D | null } {
    return { W: this.w, Wt: this.usesTranspose() ? this.transposed() : null };
  }

  /** x [n, in] → x·Wᵀ [n, out]. */
  project(x: tf.Tensor2D): tf.Tensor2D {
    if (x.shape[1] !== this.inFeatures) {
      throw new ShapeError(`input has ${x.shape[1]} features but ${this.name} expects ${this.inFeatures}`, {
        tensor: this.name,
        shape: x.shape,
      });
    }
    if (!this.usesTranspose()) return tf.matMul(x, this.w, false, true);
    // A custom gradient: dx = dy·W uses the [out, in] weight directly, where
    // the generic BatchMatMul gradient would transpose [in, out] back each step.
    const W = this.w;
    const Wt = this.transposed();
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
      value: tf.matMul(args[0] as tf.Tensor2D, Wt),
      gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, W)],
    }));
    return op(x) as tf.Tensor2D;
  }

  /** A float32 copy of W as a core matrix. */
  matrix(): Matrix<Float32Array> {
    return { rows: this.outFeatures, cols: this.inFeatures, data: Float32Array.from(this.w.dataSync()) };
  }

  /** Replaces W by `m` (e.g. a residual or merged weight); the new tensor is owned. */
  replace(m: Matrix<Float32Array>): void {
    if (m.rows !== this.outFeatures || m.cols !== this.inFeatures) {
      throw new ShapeError(`replacement is [${m.rows}, ${m.cols}] but ${this.name} is [${this.outFeatures}, ${this.inFeatures}]`, {
        tensor: this.name,
        shape: [m.rows, m.cols],
      });
    }
    this.release();
    // keep(): a replacement made inside a caller's tidy scope must outlive it.
    this.w = tf.keep(tf.tensor2d(m.data, [m.rows, m.cols], 'float32'));
    this.owned = true;
  }

  /** Frees what this object owns (a borrowed weight is left alone). */
  dispose(): void {
    this.release();
  }

  private usesTranspose(): boolean {
    return this.pretranspose ?? prefersPretransposedWeights();
  }

  private transposed(): tf.Tensor2D {
    if (this.wT === null) {
      const w = this.w;
      // Created lazily and kept outside any caller's tidy scope or gradient tape.
      this.wT = tf.keep(tf.tidy(() => tf.transpose(w)));
    }
    return this.wT;
  }

  private release(): void {
    this.wT?.dispose();
    this.wT = null;
    if (this.owned) this.w.dispose();
    this.owned = false;
  }
}
