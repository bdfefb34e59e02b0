import * as tf from '@tensorflow/tfjs-core';
import { Rng, decodeWeight, encodeWeight } from '@tsd-peft/core';
import { type Arr, expectGradsMatch, rand } from './grad-check.test-helper.js';
import { ReducedWeight, reducedMatMul } from './reduced-weight.js';

/*
 * The gradient check of reducedMatMul shared by the reference-path test (cpu)
 * and the wasm kernel's test: loss = Σ g ⊙ op(x, W) for a fixed cotangent g,
 * its tf gradient with respect to x against float64 finite differences of the
 * same loss on the decoded W (grad-check.test-helper.ts gives the tolerance).
 */

const rng = Rng.fromSeed(31);

/** Checks d(Σ g ⊙ x·op(W))/dx on the active backend for a random W [rows, cols] in `dtype`. */
export function expectReducedMatMulGrads(dtype: 'bfloat16' | 'int8', rows: number, cols: number, n: number, transposeW: boolean): void {
  const data = Float32Array.from({ length: rows * cols }, () => rng.uniform(-1, 1));
  const w = ReducedWeight.fromFloat32(data, rows, cols, dtype);
  const exact = decodeWeight(encodeWeight(data, rows, cols, dtype));
  const [k, outCols] = transposeW ? [cols, rows] : [rows, cols];
  const g = rand([n, outCols]);
  const f64 = ([x]: Arr[]) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < outCols; j++) {
        let y = 0;
        for (let p = 0; p < k; p++) y += ((x as Arr).data[i * k + p] as number) * (exact[transposeW ? j * cols + p : p * cols + j] as number);
        s += (g.data[i * outCols + j] as number) * y;
      }
    }
    return s;
  };
  const gTensor = tf.tensor(Float32Array.from(g.data), g.shape);
  expectGradsMatch((x) => tf.sum(tf.mul(reducedMatMul(x as tf.Tensor2D, w, transposeW), gTensor)), f64, [rand([n, k])]);
  gTensor.dispose();
  w.dispose();
}
