import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, decodeWeight, type FrozenDtype, type Matrix } from '@tsd-peft/core';
import { baseWeightDtype, baseWeightShape, baseWeightTensors, denseBaseWeight, isReducedWeight, storeBaseWeight } from './base-weight.js';
import { prefersPretransposedWeights } from './backend/ops.js';
import { type ReducedWeight, reducedMatMul } from './backend/reduced-weight.js';

/** Where {@link FrozenWeight.replace} keeps a replacement: in the base's own dtype, or in fp32. */
export type ReplacementPrecision = 'base' | 'float32';

/**
 * One frozen weight W [out, in] (Hugging Face layout) and the projection
 * x·Wᵀ. It is never a tf.Variable, so it gets no gradient and no optimizer
 * state. With `pretranspose`, an [in, out] copy is made once so each forward
 * is a plain `matMul` (on wasm the transposed matMul is much slower).
 *
 * W may be an fp32 tensor or a {@link ReducedWeight} (bfloat16 / int8 codes):
 * then the projection is `reducedMatMul`, which reads the codes in place (no
 * pre-transposed copy), and whatever needs W's values (merges, SVDs, DoRA's
 * norm) gets the exact decoded W.
 *
 * The weight may be *borrowed* (the caller's tensor, never disposed here) or
 * *owned* (a residual W' or a merged weight this object created).
 */
export class FrozenWeight {
  private w: tf.Tensor2D | ReducedWeight;
  private wT: tf.Tensor2D | null = null;
  private owned: boolean;

  constructor(
    readonly name: string,
    private readonly base: tf.Tensor2D | ReducedWeight,
    private readonly pretranspose: boolean | undefined,
  ) {
    if (!isReducedWeight(base) && base.rank !== 2) throw new ShapeError('a frozen linear weight must be 2-D', { tensor: name, shape: base.shape });
    this.w = base;
    this.owned = false;
  }

  /** The element type W is held in now (a merged weight is fp32 even over a reduced base). */
  get dtype(): FrozenDtype {
    return baseWeightDtype(this.w);
  }

  /** True while W is held in reduced precision (bfloat16 / int8 codes). */
  get isReduced(): boolean {
    return isReducedWeight(this.w);
  }

  /**
   * True when W is an fp32 tensor, so an adapter may fold its low-rank update
   * into it (`adaptedLinear`); a reduced W is never expanded for that.
   */
  get foldable(): boolean {
    return !this.isReduced;
  }

  /** True while W is the borrowed original (not a residual or merged replacement). */
  get isBase(): boolean {
    return this.w === this.base;
  }

  /** The tensors behind the original borrowed weight (codes and scales when reduced), for awaiting host reads. */
  baseTensors(): tf.Tensor[] {
    return baseWeightTensors(this.base);
  }

  /** The tensors behind W as it is now (see {@link FrozenWeight.baseTensors}). */
  currentTensors(): tf.Tensor[] {
    return baseWeightTensors(this.w);
  }

  /** A float32 copy of the original borrowed weight (decoded exactly when reduced), whatever W currently is. */
  baseMatrix(): Matrix<Float32Array> {
    return matrixOf(this.base, this.name);
  }

  /** Goes back to the borrowed original weight, freeing any replacement. */
  restoreBase(): void {
    if (this.isBase) return;
    this.release();
    this.w = this.base;
  }

  /** Output features (rows of W). */
  get outFeatures(): number {
    return baseWeightShape(this.w)[0] as number;
  }

  /** Input features (columns of W). */
  get inFeatures(): number {
    return baseWeightShape(this.w)[1] as number;
  }

  /** The fp32 weight tensor [out, in] (do not dispose it); a reduced W throws (use {@link FrozenWeight.dense}). */
  get tensor(): tf.Tensor2D {
    return this.fp32('tensor');
  }

  /**
   * W as an fp32 tensor [out, in]: the weight itself, or, when reduced, W
   * decoded exactly into a new tensor. Call it inside `tf.tidy`, which frees
   * the decoded copy and leaves the weight alone.
   */
  dense(): tf.Tensor2D {
    return denseBaseWeight(this.w) as tf.Tensor2D;
  }

  /**
   * W [out, in] and, when pre-transposing, the [in, out] copy (for ops that
   * fold adapters into the weight; do not dispose them). Only for an fp32 W
   * (see {@link FrozenWeight.foldable}).
   */
  tensors(): { W: tf.Tensor2D; Wt: tf.Tensor2D | null } {
    const W = this.fp32('tensors()');
    return { W, Wt: this.usesTranspose() ? this.transposed(W) : null };
  }

  /** x [n, in] → x·Wᵀ [n, out]. */
  project(x: tf.Tensor2D): tf.Tensor2D {
    if (x.shape[1] !== this.inFeatures) {
      throw new ShapeError(`input has ${x.shape[1]} features but ${this.name} expects ${this.inFeatures}`, {
        tensor: this.name,
        shape: x.shape,
      });
    }
    if (isReducedWeight(this.w)) return reducedMatMul(x, this.w, true);
    if (!this.usesTranspose()) return tf.matMul(x, this.w, false, true);
    // A custom gradient: dx = dy·W uses the [out, in] weight directly, where
    // the generic BatchMatMul gradient would transpose [in, out] back each step.
    const W = this.w;
    const Wt = this.transposed(W);
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
      value: tf.matMul(args[0] as tf.Tensor2D, Wt),
      gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, W)],
    }));
    return op(x) as tf.Tensor2D;
  }

  /** A float32 copy of W as a core matrix (decoded exactly when reduced). */
  matrix(): Matrix<Float32Array> {
    return matrixOf(this.w, this.name);
  }

  /**
   * Replaces W by `m` (e.g. a residual or merged weight); the new weight is
   * owned. With `precision: 'base'` (the default) a reduced base's
   * replacement is encoded in the base's dtype again: a residual
   * W' = W − s·B₀A₀ then costs no more memory than W (QPiSSA's quantized
   * residual, Meng et al. 2024 §4.3), and re-deriving it from the same fp32
   * values gives the same codes, so merge/unmerge cycles never drift.
   * 'float32' keeps it exact (merged weights).
   */
  replace(m: Matrix<Float32Array>, precision: ReplacementPrecision = 'base'): void {
    if (m.rows !== this.outFeatures || m.cols !== this.inFeatures) {
      throw new ShapeError(`replacement is [${m.rows}, ${m.cols}] but ${this.name} is [${this.outFeatures}, ${this.inFeatures}]`, {
        tensor: this.name,
        shape: [m.rows, m.cols],
      });
    }
    this.release();
    const dtype = precision === 'base' && isReducedWeight(this.base) ? this.base.dtype : 'float32';
    const w = storeBaseWeight(m.data, m.rows, m.cols, dtype, this.name);
    // a replacement made inside a caller's tidy scope must outlive it (a ReducedWeight keeps its own tensors)
    this.w = isReducedWeight(w) ? w : tf.keep(w);
    this.owned = true;
  }

  /** Frees what this object owns (a borrowed weight is left alone). */
  dispose(): void {
    this.release();
  }

  private usesTranspose(): boolean {
    return this.pretranspose ?? prefersPretransposedWeights();
  }

  private fp32(what: string): tf.Tensor2D {
    if (isReducedWeight(this.w)) {
      throw new ConfigError(`${what} needs an fp32 weight but ${this.name} is held as ${this.w.dtype}; use dense() inside tf.tidy`, { tensor: this.name });
    }
    return this.w;
  }

  private transposed(w: tf.Tensor2D): tf.Tensor2D {
    if (this.wT === null) {
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

/** A weight's values as a float32 core matrix (a copy; a reduced weight decoded exactly). */
function matrixOf(w: tf.Tensor2D | ReducedWeight, name: string): Matrix<Float32Array> {
  if (isReducedWeight(w)) return { rows: w.rows, cols: w.cols, data: decodeWeight(w.encoded(), name) };
  return { rows: w.shape[0], cols: w.shape[1], data: Float32Array.from(w.dataSync()) };
}
