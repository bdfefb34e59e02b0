import { describe, expect, it } from 'vitest';
import { changeRates } from './change-rates.js';
import { NonFiniteError, ShapeError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import { matmul, transpose } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { loraDelta } from './merge.js';
import { Rng } from './random.js';
import { svd } from './svd-exact.js';
import type { SvdResult } from './svd-types.js';
import { baseWeight, factorsOf, loadTrajectory } from './tsd-fixtures.test-helper.js';
import { selectTaskSpecificDirections } from './tsd-selection.js';

function randomMatrix(rows: number, cols: number, rng: Rng, scale = 1): Matrix<Float32Array> {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = scale * rng.normal();
  return { rows, cols, data };
}

/** Independent float64 reference: diag(Uᵀ ΔW V) by plain matrix products. */
function naiveProjections(s: SvdResult, delta: Matrix): Float64Array {
  const m = matmul(matmul(transpose(s.U), delta), transpose(s.Vt));
  return Float64Array.from({ length: s.S.length }, (_, i) => m.data[i * m.cols + i] as number);
}

describe('changeRates on the reference LoRA-Dash launch (stories260K)', () => {
  const fx = loadTrajectory();

  it('reproduces change_rate, delta_sigma, sigma and top_index of all 10 modules', () => {
    expect(fx.modules).toHaveLength(10);
    expect(fx.scaling).toBe(2);
    let worstRate = 0;
    for (const module of fx.modules) {
      const ref = fx.launch[module];
      if (ref === undefined) throw new Error(`launch.json lacks ${module}`);
      const W = baseWeight(fx, module);
      const res = changeRates(svd(W, { name: module }), factorsOf(fx.launchState, module, fx.scaling), module);
      const maxRate = Math.max(...ref.change_rate);
      for (let i = 0; i < ref.change_rate.length; i++) {
        // Tolerance 1e-4 relative to the module's largest rate, as the fixture's own
        // float64 cross-check (refgen/local_check.py) measures it: torch ran the SVD
        // and uᵢᵀΔWvᵢ in float32, so the smallest rates carry ~1e-7·‖ΔW‖/σᵢ of noise
        // that a per-entry relative test would misread as error.
        const err = Math.abs((res.rates[i] as number) - (ref.change_rate[i] as number)) / maxRate;
        worstRate = Math.max(worstRate, err);
        expect(err, `${module} direction ${i}`).toBeLessThan(1e-4);
        // σ from float64 vs float32 LAPACK: ~1e-6 relative to σ_max.
        expect(Math.abs((res.sigma[i] as number) - (ref.sigma[i] as number))).toBeLessThan(1e-5 * (ref.sigma[0] as number));
        // The signed projection is invariant to the SVD's paired sign flips.
        const maxProj = Math.max(...ref.delta_sigma.map(Math.abs));
        expect(Math.abs((res.projections[i] as number) - (ref.delta_sigma[i] as number)) / maxProj).toBeLessThan(1e-4);
      }
      expect(Array.from(selectTaskSpecificDirections(res, fx.s)), module).toEqual(ref.top_index);
    }
    // Measured worst error, for the report; far below the 1e-4 bound.
    expect(worstRate).toBeLessThan(1e-4);
  });

  it('gives the same rates from the dense ΔW as from the factors', () => {
    for (const module of fx.modules.slice(0, 2)) {
      const W = baseWeight(fx, module);
      const s = svd(W, { name: module });
      const factors = factorsOf(fx.launchState, module, fx.scaling);
      const viaFactors = changeRates(s, factors, module);
      const viaDense = changeRates(s, loraDelta(factors), module);
      const naive = naiveProjections(s, loraDelta(factors));
      for (let i = 0; i < viaFactors.rates.length; i++) {
        // Both paths are float64 sums of the same terms in a different order: ~1e-16 relative.
        expect(Math.abs((viaDense.projections[i] as number) - (viaFactors.projections[i] as number))).toBeLessThan(1e-13);
        expect(Math.abs((naive[i] as number) - (viaFactors.projections[i] as number))).toBeLessThan(1e-13);
      }
    }
  });
});

describe('changeRates', () => {
  it('matches the float64 definition on random rectangular matrices, wide and tall', () => {
    const rng = Rng.fromSeed(11);
    for (const [out, inDim] of [
      [12, 7],
      [7, 12],
    ] as const) {
      const W = randomMatrix(out, inDim, rng);
      const s = svd(W);
      const factors: LoraFactors = { A: randomMatrix(3, inDim, rng), B: randomMatrix(out, 3, rng), scaling: 0.7 };
      const res = changeRates(s, factors);
      const naive = naiveProjections(s, loraDelta(factors));
      expect(res.rates).toHaveLength(Math.min(out, inDim));
      for (let i = 0; i < res.rates.length; i++) {
        expect(Math.abs((res.projections[i] as number) - (naive[i] as number))).toBeLessThan(1e-12);
        expect(res.rates[i]).toBeCloseTo(Math.abs(naive[i] as number) / (s.S[i] as number), 12);
      }
    }
  });

  it('handles σ = 0 (rank-deficient W) with Infinity or 0, never NaN', () => {
    // W = e₀ e₀ᵀ (rank 1) in 3×3: σ = (1, 0, 0). The exact SVD returns
    // some orthonormal basis of the null space for directions 1 and 2.
    const W: Matrix<Float32Array> = { rows: 3, cols: 3, data: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0]) };
    const s = svd(W);
    expect(s.S[1]).toBe(0);
    expect(s.S[2]).toBe(0);
    // ΔW = u₁ v₁ᵀ touches null direction 1 only.
    const delta = matmul({ rows: 3, cols: 1, data: Float64Array.from([0, 1, 2], (_, o) => s.U.data[o * 3 + 1] as number) }, { rows: 1, cols: 3, data: s.Vt.data.slice(3, 6) });
    const res = changeRates(s, delta);
    expect(res.rates[0]).toBeCloseTo(0, 12);
    expect(res.rates[1]).toBe(Number.POSITIVE_INFINITY);
    expect(Math.abs(res.projections[2] as number)).toBeLessThan(1e-15);
    expect(Number.isNaN(res.rates[2])).toBe(false);
    // Zero update: every rate is exactly 0, including the σ = 0 ones.
    const zero = changeRates(s, { rows: 3, cols: 3, data: new Float64Array(9) });
    expect(Array.from(zero.rates)).toEqual([0, 0, 0]);
    expect(Array.from(selectTaskSpecificDirections(res, 1))).toEqual([1]);
  });

  it('rejects mismatched shapes and non-finite updates, naming the tensor', () => {
    const rng = Rng.fromSeed(3);
    const s = svd(randomMatrix(6, 5, rng));
    expect(() => changeRates(s, randomMatrix(5, 6, rng), 'layers.0.q_proj')).toThrow(ShapeError);
    expect(() => changeRates(s, randomMatrix(5, 6, rng), 'layers.0.q_proj')).toThrow(/layers\.0\.q_proj/);
    const badA: LoraFactors = { A: randomMatrix(2, 4, rng), B: randomMatrix(6, 2, rng), scaling: 1 };
    expect(() => changeRates(s, badA, 'layers.0.q_proj')).toThrow(/layers\.0\.q_proj\.lora_A\.weight/);
    const badRank: LoraFactors = { A: randomMatrix(2, 5, rng), B: randomMatrix(6, 3, rng), scaling: 1 };
    expect(() => changeRates(s, badRank, 'm')).toThrow(ShapeError);
    const nan = randomMatrix(6, 5, rng);
    nan.data[7] = Number.NaN;
    expect(() => changeRates(s, nan, 'grad')).toThrow(NonFiniteError);
    const truncated: SvdResult = { ...s, S: s.S.slice(0, 3) };
    expect(() => changeRates(truncated, nan, 'x')).toThrow(/inconsistent SVD/);
  });
});
