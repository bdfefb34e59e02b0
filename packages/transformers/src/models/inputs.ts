import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@tsd-peft/core';
import type { CausalLMInputs, IdMatrix } from './types.js';

/** Forward inputs as int32 tensors (owned by the caller's tidy scope). */
export interface PreparedInputs {
  ids: tf.Tensor2D;
  mask: tf.Tensor2D | null;
  positions: tf.Tensor2D | null;
  /** Largest position id (T−1 without explicit positions). */
  maxPosition: number;
  batch: number;
  seqLen: number;
}

/**
 * Validates and converts {@link CausalLMInputs}: shapes agree, ids lie in
 * `[0, vocabSize)`, positions are non-negative. Out-of-range ids would make
 * `gather` read garbage on some backends, so they fail loudly here.
 */
export function prepareInputs(inputs: CausalLMInputs, vocabSize: number): PreparedInputs {
  const ids = toIntTensor(inputs.inputIds, 'input_ids');
  const [batch, seqLen] = ids.shape;
  if (batch === 0 || seqLen === 0) throw new ShapeError('input_ids is empty', { tensor: 'input_ids', shape: ids.shape });
  const idData = ids.dataSync();
  for (let i = 0; i < idData.length; i++) {
    const id = idData[i] as number;
    if (id < 0 || id >= vocabSize) {
      throw new ShapeError(`token id ${id} at flat index ${i} is outside the vocabulary [0, ${vocabSize})`, {
        tensor: 'input_ids',
        shape: ids.shape,
      });
    }
  }
  const mask = inputs.attentionMask === undefined ? null : toIntTensor(inputs.attentionMask, 'attention_mask');
  if (mask !== null) sameShape(mask, ids, 'attention_mask');
  const positions = inputs.positionIds === undefined ? null : toIntTensor(inputs.positionIds, 'position_ids');
  let maxPosition = seqLen - 1;
  if (positions !== null) {
    sameShape(positions, ids, 'position_ids');
    const data = positions.dataSync();
    maxPosition = 0;
    for (const p of data) {
      if (p < 0) throw new ShapeError(`negative position id ${p}`, { tensor: 'position_ids', shape: positions.shape });
      if (p > maxPosition) maxPosition = p;
    }
  }
  return { ids, mask, positions, maxPosition, batch, seqLen };
}

function toIntTensor(value: IdMatrix, name: string): tf.Tensor2D {
  if (value instanceof tf.Tensor) {
    if (value.rank !== 2) throw new ShapeError(`${name} must be [batch, seq]`, { tensor: name, shape: value.shape });
    return value.dtype === 'int32' ? value : tf.cast(value, 'int32');
  }
  const rows = value.length;
  const cols = value[0]?.length ?? 0;
  const data = new Int32Array(rows * cols);
  value.forEach((row, r) => {
    if (row.length !== cols) {
      throw new ShapeError(`${name} row ${r} has ${row.length} entries, row 0 has ${cols}`, { tensor: name });
    }
    row.forEach((v, c) => {
      if (!Number.isInteger(v)) throw new ShapeError(`${name}[${r}][${c}] = ${v} is not an integer`, { tensor: name });
      data[r * cols + c] = v;
    });
  });
  return tf.tensor2d(data, [rows, cols], 'int32');
}

function sameShape(t: tf.Tensor2D, ids: tf.Tensor2D, name: string): void {
  if (t.shape[0] !== ids.shape[0] || t.shape[1] !== ids.shape[1]) {
    throw new ShapeError(`${name} shape differs from input_ids [${ids.shape.join(', ')}]`, { tensor: name, shape: t.shape });
  }
}
