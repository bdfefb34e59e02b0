import { describe, expect, it } from 'vitest';
import type { DashTerm } from './dash.js';
import { NonFiniteError, ShapeError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import { matmul, maxAbsDiff } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { loraDelta, mergeDora, mergeLora, unmergeLora } from './merge.js';
import { Rng } from './random.js';
import { baseWeight, factorsOf, loadTrajectory, matrixOf, peftKey, tensor } from './tsd-fixtures.test-helper.js';

function randomMatrix(rows: number, cols: number, rng: Rng, scale = 1): Matrix<Float32Array> {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = scale * rng.normal();
  return { rows, cols, data };
}

function maxAbs(m: Matrix): number {
  let x = 0;
  for (const v of m.data) x = Math.max(x, Math.abs(v));
  return x;
}

describe('loraDelta', () => {
  it('is scaling · B · A', () => {
    const rng = Rng.fromSeed(1);
    const f: LoraFactors = { A: randomMatrix(3, 7, rng), B: randomMatrix(5, 3, rng), scaling: 0.25 };
    const naive = matmul(f.B, f.A);
    for (let i = 0; i < naive.data.length; i++) naive.data[i] = 0.25 * (naive.data[i] as number);
    expect(maxAbsDiff(loraDelta(f), naive)).toBeLessThan(1e-14);
  });
});

describe('mergeLora / unmergeLora on the final LoRA-Dash weights (stories260K)', () => {
  const fx = loadTrajectory();

  it('merge then unmerge returns W within float32 rounding, with and without dash', () => {
    for (const module of fx.modules) {
      const W = baseWeight(fx, module);
      const factors = factorsOf(fx.finalDash, module, fx.scaling);
      const key = peftKey(module);
      const dash: DashTerm = {
        U: matrixOf(fx.finalDash, `${key}.dash_U`),
        Vt: matrixOf(fx.finalDash, `${key}.dash_Vh`),
        d: tensor(fx.finalDash, `${key}.dash_d`).data,
      };
      for (const extra of [undefined, dash]) {
        const merged = mergeLora(W, factors, extra, module);
        const back = unmergeLora(merged, factors, extra, module);
        // Two float32 roundings (of W+Δ, then of the difference): each ≤ ½ulp(max|W+Δ|).
        const ulp = 2 ** (Math.floor(Math.log2(maxAbs(merged))) - 23);
        expect(maxAbsDiff(back, W), module).toBeLessThanOrEqual(ulp);
        // The merge actually moved W (the adapter is trained, not zero).
        expect(maxAbsDiff(merged, W)).toBeGreaterThan(1e-3);
      }
      // Merged = W + scaling·BA exactly as float64 then rounded once.
      const merged = mergeLora(W, factors);
      const delta = loraDelta(factors);
      for (let i = 0; i < W.data.length; i += 97) {
        expect(merged.data[i]).toBe(Math.fround((W.data[i] as number) + (delta.data[i] as number)));
      }
    }
  });

  it('rejects shape mismatches and non-finite results, naming the module', () => {
    const rng = Rng.fromSeed(2);
    const W = randomMatrix(6, 4, rng);
    const f: LoraFactors = { A: randomMatrix(2, 5, rng), B: randomMatrix(6, 2, rng), scaling: 1 };
    expect(() => mergeLora(W, f, undefined, 'layers.4.q_proj')).toThrow(ShapeError);
    expect(() => mergeLora(W, f, undefined, 'layers.4.q_proj')).toThrow(/layers\.4\.q_proj\.lora_A\.weight/);
    const g: LoraFactors = { A: randomMatrix(2, 4, rng), B: randomMatrix(6, 2, rng), scaling: 1 };
    const badDash: DashTerm = { U: randomMatrix(6, 1, rng), Vt: randomMatrix(1, 5, rng), d: Float32Array.of(1) };
    expect(() => unmergeLora(W, g, badDash, 'm')).toThrow(/m\.dash/);
    const huge: LoraFactors = { A: randomMatrix(2, 4, rng, 1e30), B: randomMatrix(6, 2, rng, 1e30), scaling: 1 };
    expect(() => mergeLora(W, huge, undefined, 'layers.0.v_proj')).toThrow(NonFiniteError);
  });
});

describe('mergeDora', () => {
  const rng = Rng.fromSeed(7);
  const W = randomMatrix(6, 9, rng);
  const f: LoraFactors = { A: randomMatrix(2, 9, rng), B: randomMatrix(6, 2, rng, 0.1), scaling: 2 };
  const rowNorm = (m: Matrix, o: number) => Math.hypot(...Array.from(m.data.slice(o * m.cols, (o + 1) * m.cols)));

  it('rescales each row of W + s·B·A to its magnitude (eq. (5) of Liu et al. 2024)', () => {
    const magnitude = Float32Array.from({ length: 6 }, (_, o) => 0.5 + o);
    const merged = mergeDora(W, f, magnitude);
    const v = mergeLora(W, f);
    for (let o = 0; o < 6; o++) {
      expect(rowNorm(merged, o)).toBeCloseTo(magnitude[o] as number, 5);
      // same direction as W + ΔW: the row is a positive multiple of it
      const k = (merged.data[o * 9] as number) / (v.data[o * 9] as number);
      expect(k).toBeGreaterThan(0);
      for (let i = 0; i < 9; i++) expect(merged.data[o * 9 + i]).toBeCloseTo(k * (v.data[o * 9 + i] as number), 5);
    }
  });

  it('with m = ‖W + ΔW‖ (the norm it was initialised from) it is the plain LoRA merge', () => {
    const v = mergeLora(W, f);
    const magnitude = Float32Array.from({ length: 6 }, (_, o) => rowNorm(v, o));
    expect(maxAbsDiff(mergeDora(W, f, magnitude), v)).toBeLessThan(1e-6);
  });

  it('a magnitude of the wrong length or a zero row is refused, naming the tensor', () => {
    expect(() => mergeDora(W, f, new Float32Array(5), 'm')).toThrow(ShapeError);
    const zeroRow = { rows: 2, cols: 2, data: Float32Array.from([0, 0, 1, 1]) };
    const none: LoraFactors = { A: { rows: 1, cols: 2, data: new Float32Array(2) }, B: { rows: 2, cols: 1, data: new Float32Array(2) }, scaling: 1 };
    expect(() => mergeDora(zeroRow, none, Float32Array.from([1, 1]), 'm')).toThrow(NonFiniteError);
  });
});
