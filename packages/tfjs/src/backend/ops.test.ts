import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchMatMul, embeddingLookup, matMul2d, matMulT, rotateHalf, sliceAxis } from './ops.js';
import { type Arr, dot, expectGradsMatch, rand } from './grad-check.test-helper.js';
import { setupBackend } from './setup.js';
import { setWasmGemmEnabled, wasmGemmActive } from './wasm-gemm.js';

/* Gradient checks on wasm against float64 finite differences (see grad-check.test-helper.ts). */

/** out[b] = op(A[b]) · op(B[b]) in float64, with batch broadcasting of a rank-2 operand. */
function f64BatchMatMul(a: Arr, b: Arr, ta: boolean, tb: boolean): Arr {
  const batchA = a.shape.length === 3 ? (a.shape[0] as number) : 1;
  const batchB = b.shape.length === 3 ? (b.shape[0] as number) : 1;
  const batch = Math.max(batchA, batchB);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const m = ta ? ac : ar;
  const k = ta ? ar : ac;
  const n = tb ? br : bc;
  const out = new Float64Array(batch * m * n);
  for (let q = 0; q < batch; q++) {
    const ao = batchA === 1 ? 0 : q * ar * ac;
    const bo = batchB === 1 ? 0 : q * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a.data[ao + (ta ? p * ac + i : i * ac + p)] as number;
          const bv = b.data[bo + (tb ? j * bc + p : p * bc + j)] as number;
          s += av * bv;
        }
        out[q * m * n + i * n + j] = s;
      }
    }
  }
  const shape = a.shape.length === 3 || b.shape.length === 3 ? [batch, m, n] : [m, n];
  return { shape, data: out };
}

beforeAll(async () => {
  expect(await setupBackend('wasm')).toBe('wasm');
});

describe('BatchMatMul gradient on wasm', () => {
  const combos: Array<[boolean, boolean]> = [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ];
  for (const [ta, tb] of combos) {
    it(`2-D matMul(transposeA=${ta}, transposeB=${tb})`, () => {
      const a = rand(ta ? [4, 3] : [3, 4]);
      const b = rand(tb ? [5, 4] : [4, 5]);
      const R = rand([3, 5]);
      const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
      expectGradsMatch(
        (x, y) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), Rt)),
        ([x, y]) => dot(f64BatchMatMul(x as Arr, y as Arr, ta, tb).data, R.data),
        [a, b],
      );
      Rt.dispose();
    });
    it(`3-D batched matMul(transposeA=${ta}, transposeB=${tb})`, () => {
      const a = rand(ta ? [2, 4, 3] : [2, 3, 4]);
      const b = rand(tb ? [2, 5, 4] : [2, 4, 5]);
      const R = rand([2, 3, 5]);
      const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
      expectGradsMatch(
        (x, y) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, ta, tb), Rt)),
        ([x, y]) => dot(f64BatchMatMul(x as Arr, y as Arr, ta, tb).data, R.data),
        [a, b],
      );
      Rt.dispose();
    });
  }

  it('a broadcast 3-D × 2-D product gets a gradient of the 2-D operand’s shape', () => {
    const a = rand([2, 3, 4]);
    const b = rand([4, 5]);
    const R = rand([2, 3, 5]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    expectGradsMatch(
      (x, y) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor2D), Rt)),
      ([x, y]) => dot(f64BatchMatMul(x as Arr, y as Arr, false, false).data, R.data),
      [a, b],
    );
    expectGradsMatch(
      (x, y) => tf.sum(tf.mul(tf.matMul(y as tf.Tensor2D, x as tf.Tensor3D, true, false), Rt)),
      ([x, y]) => dot(f64BatchMatMul(y as Arr, x as Arr, true, false).data, R.data),
      [rand([2, 4, 5]), rand([4, 3])],
    );
    Rt.dispose();
  });

  it('passes transposes to our wasm kernel as flags, and never to the stock one', async () => {
    // Spy on the wasm kernel: record the transpose flags of every call and count Transpose kernels.
    const kernel = tf.getKernel('BatchMatMul', 'wasm');
    expect(kernel).toBeDefined();
    const flags: boolean[] = [];
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({
      ...kernel,
      kernelFunc: (args) => {
        const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
        flags.push(attrs.transposeA || attrs.transposeB);
        return kernel.kernelFunc(args);
      },
    });
    const x = tf.randomNormal([8, 16]);
    const w = tf.randomNormal([16, 12]);
    const gradientStep = async () => {
      flags.length = 0;
      const profile = await tf.profile(() => {
        const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.matMul(p as tf.Tensor2D, q as tf.Tensor2D)))([x, w]);
        tf.dispose(g);
      });
      return { flagged: flags.filter(Boolean).length, transposes: profile.kernels.filter((k) => k.name === 'Transpose').length };
    };
    try {
      expect(wasmGemmActive()).toBe(true);
      expect(await gradientStep()).toEqual({ flagged: 2, transposes: 0 }); // dx = dy·wᵀ, dw = xᵀ·dy
      setWasmGemmEnabled(false);
      expect(await gradientStep()).toEqual({ flagged: 0, transposes: 2 });
      expect(flags.length).toBe(3); // forward + two gradients
    } finally {
      setWasmGemmEnabled(true);
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel(kernel);
      tf.dispose([x, w]);
    }
  });
});

describe('helpers', () => {
  it('matMulT(x, w) = x·wᵀ for 3-D x, with gradients for both', () => {
    const x = rand([2, 3, 4]);
    const w = rand([5, 4]);
    const R = rand([2, 3, 5]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    expectGradsMatch(
      (p, q) => tf.sum(tf.mul(matMulT(p as tf.Tensor, q as tf.Tensor2D), Rt)),
      ([p, q]) => dot(f64BatchMatMul(p as Arr, q as Arr, false, true).data, R.data),
      [x, w],
    );
    Rt.dispose();
  });

  it('matMul2d(x, w) = x·w for 3-D x, with gradients for both', () => {
    const R = rand([2, 3, 5]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    expectGradsMatch(
      (p, q) => tf.sum(tf.mul(matMul2d(p as tf.Tensor, q as tf.Tensor2D), Rt)),
      ([p, q]) => dot(f64BatchMatMul(p as Arr, q as Arr, false, false).data, R.data),
      [rand([2, 3, 4]), rand([4, 5])],
    );
    Rt.dispose();
  });

  it('batchMatMul with explicit transposes matches float64 and differentiates', () => {
    const R = rand([2, 3, 5]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    expectGradsMatch(
      (p, q) => tf.sum(tf.mul(batchMatMul(p as tf.Tensor3D, q as tf.Tensor3D, true, true), Rt)),
      ([p, q]) => dot(f64BatchMatMul(p as Arr, q as Arr, true, true).data, R.data),
      [rand([2, 4, 3]), rand([2, 5, 4])],
    );
    Rt.dispose();
  });

  it('embeddingLookup differentiates with respect to the table, summing repeated ids', () => {
    const table = rand([6, 3]);
    const idsArr = [5, 1, 1, 0, 5, 5, 2, 1];
    const ids = tf.tensor2d(idsArr, [2, 4], 'int32');
    const R = rand([2, 4, 3]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    const f64 = ([t]: Arr[]): number => {
      let s = 0;
      idsArr.forEach((id, n) => {
        for (let j = 0; j < 3; j++) s += ((t as Arr).data[id * 3 + j] as number) * (R.data[n * 3 + j] as number);
      });
      return s;
    };
    expectGradsMatch((t) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, ids), Rt)), f64, [table]);
    // tf.gather itself is differentiable on wasm too, through the gather gradient fix
    expectGradsMatch((t) => tf.sum(tf.mul(tf.gather(t as tf.Tensor2D, ids), Rt)), f64, [table]);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeUndefined();
    tf.dispose([ids, Rt]);
  });

  it('sliceAxis and rotateHalf differentiate (stridedSlice and einsum have no gradient at all)', () => {
    const R = rand([2, 2, 6]);
    const Rt = tf.tensor(Float32Array.from(R.data), R.shape);
    const rot64 = ([x]: Arr[]): number => {
      let s = 0;
      for (let row = 0; row < 4; row++) {
        for (let j = 0; j < 6; j++) {
          const v = j < 3 ? -((x as Arr).data[row * 6 + j + 3] as number) : ((x as Arr).data[row * 6 + j - 3] as number);
          s += v * (R.data[row * 6 + j] as number);
        }
      }
      return s;
    };
    expectGradsMatch((x) => tf.sum(tf.mul(rotateHalf(x as tf.Tensor), Rt)), rot64, [rand([2, 2, 6])]);
    const R2 = rand([3, 2]);
    const R2t = tf.tensor(Float32Array.from(R2.data), R2.shape);
    const slice64 = ([x]: Arr[]): number => {
      let s = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) s += ((x as Arr).data[i * 5 + 1 + j] as number) * (R2.data[i * 2 + j] as number);
      return s;
    };
    expectGradsMatch((x) => tf.sum(tf.mul(sliceAxis(x as tf.Tensor2D, 1, 1, 2), R2t)), slice64, [rand([3, 5])]);
    const x = tf.ones([3, 5]);
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(tf.stridedSlice(t, [0, 1], [3, 3], [1, 1])))(x)).toThrow(/StridedSlice/);
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(tf.einsum('ij,ij->i', t, t)))(x)).toThrow(/Einsum/);
    tf.dispose([Rt, R2t, x]);
  });
});
