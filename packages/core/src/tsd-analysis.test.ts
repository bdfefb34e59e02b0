import { describe, expect, it } from 'vitest';
import { changeRates } from './change-rates.js';
import { NonFiniteError, ShapeError } from './errors.js';
import { matmul } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { Rng } from './random.js';
import { svd } from './svd-exact.js';
import { changeRateSpectrum, principalAngles, tsdOverlap } from './tsd-analysis.js';
import { baseWeight, factorsOf, loadTrajectory } from './tsd-fixtures.test-helper.js';

function randomMatrix(rows: number, cols: number, rng: Rng): Matrix<Float64Array> {
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => rng.normal()) };
}

/** Columns given as arrays → an [n, p] matrix. */
function columns(n: number, cols: number[][]): Matrix<Float64Array> {
  const data = new Float64Array(n * cols.length);
  cols.forEach((c, j) => c.forEach((v, i) => (data[i * cols.length + j] = v)));
  return { rows: n, cols: cols.length, data };
}

describe('principalAngles', () => {
  it('is 0 for the same subspace spanned by different bases', () => {
    const rng = Rng.fromSeed(1);
    const Ua = randomMatrix(12, 3, rng);
    const Ub = matmul(Ua, randomMatrix(3, 3, rng));
    const angles = principalAngles(Ua, Ub);
    expect(angles).toHaveLength(3);
    // arccos near 1 resolves only ~√ε ≈ 1.5e-8: cos θ = 1 − θ²/2.
    for (const a of angles) expect(a).toBeLessThan(1e-7);
  });

  it('is π/2 for orthogonal subspaces', () => {
    const e = (i: number) => Array.from({ length: 5 }, (_, t) => (t === i ? 1 : 0));
    const angles = principalAngles(columns(5, [e(0), e(1)]), columns(5, [e(2), e(3), e(4)]));
    expect(Array.from(angles)).toEqual([Math.PI / 2, Math.PI / 2]);
  });

  it('recovers known angles, ascending', () => {
    const t = 0.3;
    const u = 1.2;
    const Ua = columns(4, [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
    ]);
    // Second direction tilted by u out of span(Ua), first by t within a rotated frame.
    const Ub = columns(4, [
      [Math.cos(t), 0, Math.sin(t), 0],
      [0, Math.cos(u), 0, Math.sin(u)],
    ]);
    const angles = principalAngles(Ua, Ub);
    expect(angles[0]).toBeCloseTo(t, 12);
    expect(angles[1]).toBeCloseTo(u, 12);
  });

  it('matches |a·b| / (|a||b|) for random lines', () => {
    const rng = Rng.fromSeed(6);
    for (let trial = 0; trial < 5; trial++) {
      const a = randomMatrix(7, 1, rng);
      const b = randomMatrix(7, 1, rng);
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < 7; i++) {
        dot += (a.data[i] as number) * (b.data[i] as number);
        na += (a.data[i] as number) ** 2;
        nb += (b.data[i] as number) ** 2;
      }
      const expected = Math.acos(Math.abs(dot) / Math.sqrt(na * nb));
      expect(principalAngles(a, b)[0]).toBeCloseTo(expected, 10);
    }
  });

  it('drops dependent columns and checks shapes and finiteness', () => {
    const Ua = columns(3, [
      [1, 2, 0],
      [2, 4, 0],
    ]);
    expect(principalAngles(Ua, columns(3, [[0, 0, 1]]))).toHaveLength(1);
    expect(
      principalAngles(
        Ua,
        columns(3, [
          [0, 0, 1],
          [1, 0, 0],
        ]),
      ),
    ).toHaveLength(1);
    expect(() => principalAngles(Ua, columns(4, [[1, 0, 0, 0]]), { name: 'layers.0.q_proj' })).toThrow(ShapeError);
    expect(() => principalAngles(Ua, columns(3, [[Number.NaN, 0, 0]]), { name: 'q' })).toThrow(NonFiniteError);
  });
});

describe('tsdOverlap', () => {
  it('is the shared fraction of two index sets', () => {
    expect(tsdOverlap(Int32Array.from([1, 2, 3, 4]), Int32Array.from([4, 3, 9, 8]))).toBe(0.5);
    expect(tsdOverlap(Int32Array.from([63, 59]), Int32Array.from([59, 63]))).toBe(1);
    expect(tsdOverlap(Int32Array.from([1]), Int32Array.from([2]))).toBe(0);
    expect(tsdOverlap(Int32Array.from([1, 2]), Int32Array.from([2, 5, 6, 7]))).toBe(0.25);
    expect(tsdOverlap(new Int32Array(0), new Int32Array(0))).toBe(1);
  });
});

describe('changeRateSpectrum', () => {
  it('lists every direction of a real module with σ descending and the change rates', () => {
    const fx = loadTrajectory();
    const module = 'model.layers.4.self_attn.q_proj';
    const s = svd(baseWeight(fx, module));
    const delta = factorsOf(fx.launchState, module, fx.scaling);
    const spectrum = changeRateSpectrum(s, delta, module);
    const rates = changeRates(s, delta);
    expect(spectrum).toHaveLength(64);
    for (let i = 1; i < spectrum.length; i++) {
      expect((spectrum[i - 1] as { sigma: number }).sigma).toBeGreaterThanOrEqual((spectrum[i] as { sigma: number }).sigma);
    }
    for (const e of spectrum) {
      expect(e.rate).toBe(rates.rates[e.index]);
      expect(e.projection).toBe(rates.projections[e.index]);
    }
    // As in the reference launch (top_index [63, 62, 60, 58]): the largest rate sits at the smallest σ.
    const top = spectrum.reduce((a, b) => (b.rate > a.rate ? b : a));
    expect(top.index).toBe(63);
  });
});
