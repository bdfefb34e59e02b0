import type { LoraFactors, Matrix } from '@tsd-peft/core';

/**
 * A dense ΔW [out, in] as exact LoRA factors with scaling 1: B = ΔW, A = I
 * (in ≤ out), or B = I, A = ΔW — the plain-LoRA form of a method whose
 * update is not low-rank (full fine-tuning, DoRA), rank min(out, in).
 */
export function denseAsLora(delta: Matrix<Float32Array>): LoraFactors {
  const { rows: out, cols: inDim } = delta;
  const k = Math.min(out, inDim);
  const eye = new Float32Array(k * k);
  for (let i = 0; i < k; i++) eye[i * k + i] = 1;
  if (inDim <= out) return { A: { rows: k, cols: inDim, data: eye }, B: delta, scaling: 1 };
  return { A: delta, B: { rows: out, cols: k, data: eye }, scaling: 1 };
}

/** a − b elementwise, as a new float32 matrix of a's shape. */
export function matrixDifference(a: Matrix<Float32Array>, b: Matrix<Float32Array>): Matrix<Float32Array> {
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (a.data[i] as number) - (b.data[i] as number);
  return { rows: a.rows, cols: a.cols, data };
}
