import { describe, expect, it } from 'vitest';
import { changeRates } from './change-rates.js';
import { NonFiniteError, ShapeError } from './errors.js';
import { svd } from './svd-exact.js';
import { baseWeight, factorsOf, loadTrajectory, tensor } from './tsd-fixtures.test-helper.js';
import { dashBasis, selectTaskSpecificDirections } from './tsd-selection.js';

describe('selectTaskSpecificDirections', () => {
  it('returns the s largest rates in descending order', () => {
    const rates = Float64Array.from([0.1, 0.5, 0.05, 0.9, 0.3]);
    expect(Array.from(selectTaskSpecificDirections(rates, 3))).toEqual([3, 1, 4]);
    expect(Array.from(selectTaskSpecificDirections(rates, 5))).toEqual([3, 1, 4, 0, 2]);
    expect(selectTaskSpecificDirections(rates, 0)).toHaveLength(0);
  });

  it('breaks ties by the lower index and ranks Infinity first', () => {
    const rates = Float64Array.from([0.2, 0.7, 0.2, 0.7, Number.POSITIVE_INFINITY, 0.2]);
    expect(Array.from(selectTaskSpecificDirections(rates, 6))).toEqual([4, 1, 3, 0, 2, 5]);
  });

  it('accepts a ChangeRates record', () => {
    const rec = { rates: Float64Array.from([1, 3, 2]), projections: new Float64Array(3), sigma: new Float64Array(3) };
    expect(Array.from(selectTaskSpecificDirections(rec, 2))).toEqual([1, 2]);
  });

  it('throws ShapeError for s out of range and NonFiniteError for NaN, naming the tensor', () => {
    const rates = Float64Array.from([0.1, 0.2]);
    expect(() => selectTaskSpecificDirections(rates, 3, 'layers.1.v_proj')).toThrow(ShapeError);
    expect(() => selectTaskSpecificDirections(rates, 3, 'layers.1.v_proj')).toThrow(/layers\.1\.v_proj/);
    expect(() => selectTaskSpecificDirections(rates, -1)).toThrow(ShapeError);
    expect(() => selectTaskSpecificDirections(rates, 1.5)).toThrow(ShapeError);
    expect(() => selectTaskSpecificDirections(Float64Array.from([0.1, Number.NaN]), 1)).toThrow(NonFiniteError);
  });
});

describe('dashBasis', () => {
  it('gathers the same U_s, V_sᵀ as the reference launch (up to paired sign)', () => {
    const fx = loadTrajectory();
    let worst = 0;
    for (const module of fx.modules) {
      const W = baseWeight(fx, module);
      const s = svd(W, { name: module });
      const top = selectTaskSpecificDirections(changeRates(s, factorsOf(fx.launchState, module, fx.scaling)), fx.s);
      const basis = dashBasis(s, top, module);
      const refU = tensor(fx.launchState, `base_model.model.${module}.dash_U`).data;
      const refV = tensor(fx.launchState, `base_model.model.${module}.dash_Vh`).data;
      expect(basis.U.rows).toBe(W.rows);
      expect(basis.Vt.cols).toBe(W.cols);
      for (let j = 0; j < fx.s; j++) {
        // A singular pair is unique up to a joint sign (distinct σ here), so align on u.
        let dot = 0;
        for (let o = 0; o < W.rows; o++) dot += (basis.U.data[o * fx.s + j] as number) * (refU[o * fx.s + j] as number);
        const sign = Math.sign(dot);
        for (let o = 0; o < W.rows; o++) {
          worst = Math.max(worst, Math.abs((basis.U.data[o * fx.s + j] as number) - sign * (refU[o * fx.s + j] as number)));
        }
        for (let c = 0; c < W.cols; c++) {
          worst = Math.max(worst, Math.abs((basis.Vt.data[j * W.cols + c] as number) - sign * (refV[j * W.cols + c] as number)));
        }
      }
    }
    // Measured 1.0e-5: torch's float32 SVD vectors vs our float64 ones rounded to float32.
    expect(worst).toBeLessThan(1e-4);
  });

  it('rejects out-of-range and repeated indices, naming the module', () => {
    const W = { rows: 4, cols: 3, data: Float32Array.from([1, 2, 0, 0, 1, 0, 3, 0, 1, 0, 0, 2]) };
    const s = svd(W);
    expect(() => dashBasis(s, [0, 3], 'layers.2.q_proj')).toThrow(ShapeError);
    expect(() => dashBasis(s, [0, 3], 'layers.2.q_proj')).toThrow(/layers\.2\.q_proj/);
    expect(() => dashBasis(s, [1, 1])).toThrow(/selected twice/);
    const b = dashBasis(s, Int32Array.from([2, 0]));
    // Column 0 of U_s is u₂, row 1 of V_sᵀ is v₀ᵀ.
    for (let o = 0; o < 4; o++) expect(b.U.data[o * 2]).toBe(Math.fround(s.U.data[o * 3 + 2] as number));
    for (let c = 0; c < 3; c++) expect(b.Vt.data[3 + c]).toBe(Math.fround(s.Vt.data[c] as number));
  });
});
