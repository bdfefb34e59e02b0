import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, TsdError } from '@tsd-peft/core';
import { wasmGemmActive } from './wasm-gemm.js';

/**
 * Gradient-safe, backend-aware tensor helpers for model replicas and adapters.
 *
 * They exist because of measured facts about tfjs 4.22's wasm backend in Node
 * (see docs/adapters.md): its stock `matMul` with `transposeA`/`transposeB`
 * runs 2–10× slower than an explicit `transpose` followed by a plain `matMul`
 * (our replacement kernel, wasm-gemm.ts, has no such penalty); `gather`'s
 * gradient needs `UnsortedSegmentSum`, which wasm lacks;
 * `stridedSlice` and `einsum` have no gradient at all; and the stock
 * `BatchMatMul` gradient of a broadcast 3-D × 2-D product has the wrong shape.
 * Every helper here works on every backend; on the others it uses the fast
 * native path.
 */

/**
 * True when the active backend runs `matMul(a, b, transposeA, transposeB)`
 * slower than `matMul(transpose(a), b)`: tfjs 4.22's stock wasm (XNNPACK)
 * kernel, whose transposed paths fall off its packed fast kernel. False on
 * wasm once wasm-gemm.ts's kernel is installed (it takes both layouts).
 */
export function prefersExplicitTranspose(): boolean {
  return tf.getBackend() === 'wasm' && !wasmGemmActive();
}

/**
 * True when a weight that is multiplied every step as `x·wᵀ` should be kept
 * as a transposed copy, which costs one copy per weight: only on wasm with
 * the stock kernel, which is much slower with the transpose flag. Our kernel
 * (wasm-gemm.ts) packs a transposed right operand element by element, which
 * only matters for a few rows: at training shapes (≥ 64 rows, SmolLM2 to
 * Llama-3.2-1B widths) both layouts ran within 5% of each other, while at
 * 1–16 rows the copy was 1.2–1.5× faster (bench/pretranspose.bench.mjs);
 * so training keeps one copy.
 */
export function prefersPretransposedWeights(): boolean {
  return tf.getBackend() === 'wasm' && !wasmGemmActive();
}

/** Swaps the last two axes of a tensor of rank ≥ 2 (a batched matrix transpose). */
export function transposeLast2<T extends tf.Tensor>(x: T): T {
  const rank = x.rank;
  if (rank < 2) throw new ShapeError('transposeLast2 needs rank ≥ 2', { tensor: 'x', shape: x.shape });
  if (rank === 2) return tf.transpose(x);
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return tf.transpose(x, perm);
}

/**
 * A batched matrix product `op(a) · op(b)` (op = transpose of the last two
 * axes when the flag is set), with explicit transposes on backends where the
 * flags are slow. Batch dimensions broadcast as in `tf.matMul`.
 */
export function batchMatMul<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeA = false, transposeB = false): T {
  if ((!transposeA && !transposeB) || !prefersExplicitTranspose()) return tf.matMul(a, b, transposeA, transposeB) as T;
  return tf.tidy(() => {
    const lhs = transposeA ? transposeLast2(a) : a;
    const rhs = transposeB ? transposeLast2(b) : b;
    return tf.matMul(lhs, rhs) as T;
  });
}

/**
 * `x · wᵀ` for `x` [..., k] and a weight `w` [m, k] (Hugging Face `nn.Linear`
 * layout), giving [..., m]. Leading axes of `x` are folded into one 2-D
 * product, which both avoids the broken 3-D × 2-D broadcast gradient and is
 * faster; on wasm the transpose of `w` is explicit. Callers that apply the
 * same `w` many times should keep a pre-transposed copy and use {@link matMul2d}.
 */
export function matMulT(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const k = lastDim(x, 'x');
  if (w.rank !== 2 || w.shape[1] !== k) {
    throw new ShapeError(`matMulT: x has ${k} features but w is [${w.shape.join(', ')}]`, { tensor: 'w', shape: w.shape });
  }
  return tf.tidy(() => {
    const x2 = x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [-1, k]) as tf.Tensor2D);
    const y = prefersExplicitTranspose() ? tf.matMul(x2, tf.transpose(w)) : tf.matMul(x2, w, false, true);
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
  });
}

/**
 * `x · w` for `x` [..., k] and `w` [k, m], giving [..., m], computed as one
 * 2-D product (see {@link matMulT} for why).
 */
export function matMul2d(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const k = lastDim(x, 'x');
  if (w.rank !== 2 || w.shape[0] !== k) {
    throw new ShapeError(`matMul2d: x has ${k} features but w is [${w.shape.join(', ')}]`, { tensor: 'w', shape: w.shape });
  }
  if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, w);
  return tf.tidy(() => {
    const y = tf.matMul(tf.reshape(x, [-1, k]) as tf.Tensor2D, w);
    return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
  });
}

/**
 * Rows of an embedding `table` [V, D] picked by integer `ids` (any shape),
 * giving [...ids.shape, D]. The gradient with respect to the table is the
 * scatter-add of the incoming rows ({@link scatterAddRows}), so a trainable
 * embedding works on wasm, which lacks the `UnsortedSegmentSum` kernel that
 * `tf.gather`'s stock gradient needs.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  if (table.rank !== 2) throw new ShapeError('embedding table must be 2-D', { tensor: 'table', shape: table.shape });
  if (ids.dtype !== 'int32') throw new ShapeError(`ids must be int32, got ${ids.dtype}`, { tensor: 'ids', shape: ids.shape });
  const lookup = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([ids]);
    const value = tf.gather(t, ids, 0);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => scatterAddRows(dy, saved[0] as tf.Tensor, table.shape[0]),
    };
  });
  return lookup(table);
}

/**
 * The gradient of a row gather: a [V, ...] tensor whose row v is the sum of
 * the rows of `dy` (shape [...ids.shape, ...]) at positions where ids == v.
 * Uses the native `unsortedSegmentSum` where the backend has it, else one
 * accumulation pass on the host (exact float32 sums in id order).
 */
export function scatterAddRows(dy: tf.Tensor, ids: tf.Tensor, numRows: number): tf.Tensor {
  const rowShape = dy.shape.slice(ids.rank);
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  if (tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined) {
    return tf.tidy(() => tf.reshape(tf.unsortedSegmentSum(tf.reshape(dy, [ids.size, rowSize]), tf.reshape(ids, [ids.size]), numRows), [numRows, ...rowShape]));
  }
  const idv = ids.dataSync();
  const dv = dy.dataSync() as Float32Array;
  const out = new Float32Array(numRows * rowSize);
  for (let n = 0; n < idv.length; n++) {
    const id = idv[n] as number;
    if (id < 0 || id >= numRows) {
      throw new ShapeError(`id ${id} out of range [0, ${numRows})`, { tensor: 'ids', shape: ids.shape });
    }
    const o = id * rowSize;
    const s = n * rowSize;
    for (let j = 0; j < rowSize; j++) out[o + j] = (out[o + j] as number) + (dv[s + j] as number);
  }
  return tf.tensor(out, [numRows, ...rowShape], 'float32');
}

/**
 * `x` sliced along one axis (`begin`, `size`; size −1 = to the end), through
 * `tf.slice`, whose gradient (a pad) exists on every backend — unlike
 * `stridedSlice`, which has none.
 */
export function sliceAxis<T extends tf.Tensor>(x: T, axis: number, begin: number, size = -1): T {
  const ax = axis < 0 ? x.rank + axis : axis;
  if (ax < 0 || ax >= x.rank) throw new ShapeError(`axis ${axis} out of range for rank ${x.rank}`, { tensor: 'x', shape: x.shape });
  const dim = x.shape[ax] as number;
  const len = size < 0 ? dim - begin : size;
  if (begin < 0 || len < 0 || begin + len > dim) {
    throw new ShapeError(`slice [${begin}, ${begin + len}) out of range for axis ${ax} of size ${dim}`, { tensor: 'x', shape: x.shape });
  }
  const starts = x.shape.map((_, i) => (i === ax ? begin : 0));
  const sizes = x.shape.map((d, i) => (i === ax ? len : d));
  return tf.slice(x, starts, sizes) as T;
}

/**
 * Hugging Face's `rotate_half` for rotary embeddings: with x = [x₁ | x₂]
 * split in halves along the last axis, returns [−x₂ | x₁]. Built from
 * {@link sliceAxis} and `concat`, both differentiable on every backend.
 */
export function rotateHalf<T extends tf.Tensor>(x: T): T {
  const d = lastDim(x, 'x');
  if (d % 2 !== 0) throw new ShapeError('rotateHalf needs an even last dimension', { tensor: 'x', shape: x.shape });
  return tf.tidy(() => {
    const x1 = sliceAxis(x, -1, 0, d / 2);
    const x2 = sliceAxis(x, -1, d / 2, d / 2);
    return tf.concat([tf.neg(x2), x1], -1) as T;
  });
}

/**
 * Sums a broadcast gradient back to the shape of the input it belongs to:
 * leading extra axes are summed away, and axes where `shape` has 1 are
 * summed with keepDims. Used by the BatchMatMul gradient fix.
 */
export function sumToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  return tf.tidy(() => {
    const extra = g.rank - shape.length;
    if (extra < 0) throw new TsdError(`cannot reduce a rank-${g.rank} gradient to rank ${shape.length}`, { shape: g.shape });
    let r = g;
    if (extra > 0)
      r = tf.sum(
        r,
        Array.from({ length: extra }, (_, i) => i),
      );
    const keep: number[] = [];
    shape.forEach((d, i) => {
      if (d === 1 && r.shape[i] !== 1) keep.push(i);
    });
    if (keep.length > 0) r = tf.sum(r, keep, true);
    return tf.reshape(r, [...shape]);
  });
}

function lastDim(x: tf.Tensor, name: string): number {
  const k = x.shape[x.rank - 1];
  if (k === undefined) throw new ShapeError('expected a tensor of rank ≥ 1', { tensor: name, shape: x.shape });
  return k;
}
