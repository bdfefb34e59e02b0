import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import { fusedRope } from '@tsd-peft/tfjs';
import { LengthCache } from './length-cache.js';
import type { RopeScaling } from './llama-config.js';

/**
 * Rotary position embeddings in the Hugging Face convention (Su et al.,
 * RoFormer; transformers' `rotate_half`): dimension j < hd/2 is paired with
 * j + hd/2, and `x' = x·cos + rotate_half(x)·sin` with
 * `rotate_half(x) = [−x[hd/2:], x[:hd/2]]`.
 */

/**
 * Inverse frequencies `1/θ^(2i/hd)`, i < hd/2, rounded through float32 exactly
 * as transformers computes them (`base ** (arange(0, dim, 2).float() / dim)`
 * in fp32), so that angles at large positions match the reference bit for bit
 * rather than to ~1e-5. Scaling follows `ROPE_INIT_FUNCTIONS`.
 */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround(Math.fround(2 * i) / headDim);
    inv[i] = Math.fround(1 / Math.fround(theta ** exponent));
  }
  if (scaling.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = Math.fround((inv[i] as number) / scaling.factor);
  } else if (scaling.type === 'llama3') {
    applyLlama3Scaling(inv, scaling);
  }
  return inv;
}

/** Llama 3.1 frequency-dependent scaling (transformers `_compute_llama3_parameters`). */
function applyLlama3Scaling(inv: Float64Array, s: Extract<RopeScaling, { type: 'llama3' }>): void {
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i] as number;
    const wavelen = (2 * Math.PI) / f;
    let scaled = wavelen > lowWavelen ? f / s.factor : f;
    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
      // medium band: interpolate between the scaled and unscaled frequency
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      scaled = ((1 - smooth) * scaled) / s.factor + smooth * scaled;
    }
    inv[i] = Math.fround(scaled);
  }
}

/**
 * cos/sin tables `[positions, hd]` with the halves duplicated
 * (`emb = cat(freqs, freqs)`), angles rounded to float32 as in transformers.
 */
export function ropeTables(invFreq: Float64Array, positions: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const hd = 2 * half;
  const cos = new Float32Array(positions * hd);
  const sin = new Float32Array(positions * hd);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * (invFreq[i] as number));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * hd + i] = c;
      cos[p * hd + half + i] = c;
      sin[p * hd + i] = s;
      sin[p * hd + half + i] = s;
    }
  }
  return { cos, sin };
}

/**
 * The constant `[hd, hd]` matrix R with `x·R = rotate_half(x)`. Rotating by a
 * 2-D matmul keeps the graph free of strided slices, whose gradients the wasm
 * backend lacks.
 */
export function rotateHalfMatrix(headDim: number): Float32Array {
  const half = headDim / 2;
  const r = new Float32Array(headDim * headDim);
  for (let j = 0; j < half; j++) {
    r[(j + half) * headDim + j] = -1; // out[j] = −x[j + hd/2]
    r[j * headDim + (j + half)] = 1; // out[j + hd/2] = x[j]
  }
  return r;
}

/** cos/sin broadcastable against `[B, T, heads, hd]`: `[1|B, T, 1, hd]`. */
export interface RopeAngles {
  cos: tf.Tensor4D;
  sin: tf.Tensor4D;
}

/**
 * Holds the kept (non-tidied) RoPE tensors of one model: a growing master
 * table `[P, hd]`, angles per sequence length sliced from it (see
 * {@link LengthCache}), and the rotate-half matrix. Call
 * {@link RopeCache.dispose} when done.
 */
export class RopeCache {
  private readonly cache: LengthCache<tf.Tensor4D>;
  private rotation: tf.Tensor2D | null = null;

  constructor(
    readonly headDim: number,
    theta: number,
    scaling: RopeScaling,
  ) {
    const invFreq = ropeInverseFrequencies(headDim, theta, scaling);
    this.cache = new LengthCache<tf.Tensor4D>(
      (size) => {
        const { cos, sin } = ropeTables(invFreq, size);
        return [tf.tensor2d(cos, [size, headDim]), tf.tensor2d(sin, [size, headDim])];
      },
      (master, len) => master.map((t) => tf.reshape(tf.slice(t as tf.Tensor2D, [0, 0], [len, headDim]), [1, len, 1, headDim])),
    );
  }

  /** Angles for positions 0..T−1, shape `[1, T, 1, hd]`. */
  forLength(seqLen: number): RopeAngles {
    const [cos, sin] = this.cache.get(seqLen) as [tf.Tensor4D, tf.Tensor4D];
    return { cos, sin };
  }

  /**
   * Angles for explicit `positionIds` `[B, T]` (int32), shape `[B, T, 1, hd]`,
   * gathered from the master table. They belong to the caller's tidy scope.
   */
  forPositions(positionIds: tf.Tensor2D, maxPosition: number): RopeAngles {
    const [batch, seqLen] = positionIds.shape;
    const [cosTable, sinTable] = this.cache.masterFor(maxPosition + 1) as [tf.Tensor2D, tf.Tensor2D];
    const flat = tf.reshape(positionIds, [batch * seqLen]);
    return {
      cos: tf.reshape(tf.gather(cosTable, flat), [batch, seqLen, 1, this.headDim]),
      sin: tf.reshape(tf.gather(sinTable, flat), [batch, seqLen, 1, this.headDim]),
    };
  }

  /** The kept rotate-half matrix `[hd, hd]`. */
  rotateHalf(): tf.Tensor2D {
    if (this.rotation === null) {
      this.rotation = tf.keep(tf.tensor2d(rotateHalfMatrix(this.headDim), [this.headDim, this.headDim]));
    }
    return this.rotation;
  }

  /** Frees every cached tensor. */
  dispose(): void {
    this.cache.dispose();
    this.rotation?.dispose();
    this.rotation = null;
  }
}

/**
 * Rotates `x` `[B, T, heads, hd]` by `angles` (HF `apply_rotary_pos_emb`).
 * On wasm one fused kernel (`fusedRope`, which saves nothing for the backward
 * pass); elsewhere the rotate-half runs as one 2-D matmul over `[B·T·heads, hd]`.
 */
export function applyRope(x: tf.Tensor4D, angles: RopeAngles, rotation: tf.Tensor2D): tf.Tensor4D {
  const [b, t, heads, hd] = x.shape;
  if (rotation.shape[0] !== hd) {
    throw new ShapeError(`RoPE head_dim ${rotation.shape[0]} does not match the projection head size ${hd}`, { shape: x.shape });
  }
  const fused = fusedRope(x, angles.cos, angles.sin);
  if (fused !== null) return fused;
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [b * t * heads, hd]), rotation), [b, t, heads, hd]);
  return tf.add(tf.mul(x, angles.cos), tf.mul(rotated, angles.sin));
}
