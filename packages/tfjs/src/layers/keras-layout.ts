import * as tf from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { toFloat32, transpose, type Matrix } from '@tsd-peft/core';

/*
 * Keras stores a Dense kernel as [in, out] (y = x·K); core works in Hugging
 * Face's [out, in] (y = x·Wᵀ). Every crossing between the two goes through
 * these helpers, so the layout flip lives in one place.
 */

/** The transpose of `m` as float32 (exact: every value is already float32). */
export function transposed32(m: Matrix): Matrix<Float32Array> {
  return toFloat32(transpose(m));
}

/** A Keras-layout [rows, cols] variable read as the core matrix of its transpose, [cols, rows]. */
export async function readTransposed(v: LayerVariable): Promise<Matrix<Float32Array>> {
  const [rows, cols] = v.shape as [number, number];
  const data = (await v.read().data()) as Float32Array;
  return transposed32({ rows, cols, data });
}

/** Writes the transpose of a core matrix into a Keras-layout variable of shape [m.cols, m.rows]. */
export function writeTransposed(v: LayerVariable, m: Matrix): void {
  const t = transposed32(m);
  const value = tf.tensor2d(t.data, [t.rows, t.cols], 'float32');
  v.write(value);
  value.dispose();
}
