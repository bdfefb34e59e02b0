import { describe, expect, it } from 'vitest';
import { dashDelta, foldDashIntoLora, type DashTerm } from './dash.js';
import { NonFiniteError, ShapeError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import { matmul, maxAbsDiff } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { loraDelta, mergeLora } from './merge.js';
import { Rng } from './random.js';
import { baseWeight, factorsOf, loadTrajectory, matrixOf, peftKey, tensor } from './tsd-fixtures.test-helper.js';

function randomMatrix(rows: number, cols: number, rng: Rng): Matrix<Float32Array> {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { rows, cols, data };
}

function finalDash(module: string): { factors: LoraFactors; dash: DashTerm } {
  const fx = loadTrajectory();
  const key = peftKey(module);
  return {
    factors: factorsOf(fx.finalDash, module, fx.scaling),
    dash: {
      U: matrixOf(fx.finalDash, `${key}.dash_U`),
      Vt: matrixOf(fx.finalDash, `${key}.dash_Vh`),
      d: tensor(fx.finalDash, `${key}.dash_d`).data,
    },
  };
}

describe('dashDelta', () => {
  it('equals U_s · diag(d) · V_sᵀ computed by plain products, unscaled', () => {
    const { dash } = finalDash('model.layers.0.self_attn.q_proj');
    const s = dash.d.length;
    const diag = new Float64Array(s * s);
    for (let j = 0; j < s; j++) diag[j * s + j] = dash.d[j] as number;
    const naive = matmul(matmul(dash.U, { rows: s, cols: s, data: diag }), dash.Vt);
    // Same float64 terms summed in a different order.
    expect(maxAbsDiff(dashDelta(dash, dash.d), naive)).toBeLessThan(1e-15);
    // d was actually learned (non-zero), so the comparison is not vacuous.
    expect(Math.max(...Array.from(dash.d, Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('foldDashIntoLora on the final LoRA-Dash weights (stories260K)', () => {
  it('B′A′ of the rank r+s LoRA equals scaling·B·A + U_s diag(d) V_sᵀ for all 10 modules', () => {
    const fx = loadTrajectory();
    let worst = 0;
    for (const module of fx.modules) {
      const { factors, dash } = finalDash(module);
      const folded = foldDashIntoLora(factors, dash, module);
      expect(folded.scaling).toBe(1);
      expect(folded.A.rows).toBe(fx.r + fx.s);
      expect(folded.B.cols).toBe(fx.r + fx.s);
      const direct = loraDelta(factors);
      const dd = dashDelta(dash, dash.d);
      for (let i = 0; i < direct.data.length; i++) direct.data[i] = (direct.data[i] as number) + (dd.data[i] as number);
      const diff = maxAbsDiff(loraDelta(folded), direct);
      worst = Math.max(worst, diff);
      // Only U_s·d is rounded to float32 (scaling = 2 is exact): ≤ s·|u·d|·2⁻²⁴·|v| ≈ 1e-9 here.
      expect(diff, module).toBeLessThan(1e-6);
      // And the merged weight W + B′A′ matches W + scaling·BA + dash within one float32 rounding of W.
      const W = baseWeight(fx, module);
      const viaFold = mergeLora(W, folded);
      const viaParts = mergeLora(W, factors, dash);
      expect(maxAbsDiff(viaFold, viaParts)).toBeLessThan(1e-6);
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('rejects dash terms whose shapes disagree with the factors, and non-finite d', () => {
    const rng = Rng.fromSeed(5);
    const factors: LoraFactors = { A: randomMatrix(2, 6, rng), B: randomMatrix(5, 2, rng), scaling: 2 };
    const good: DashTerm = { U: randomMatrix(5, 3, rng), Vt: randomMatrix(3, 6, rng), d: Float32Array.from([1, 2, 3]) };
    expect(() => foldDashIntoLora(factors, { ...good, d: Float32Array.from([1, 2]) }, 'layers.3.v_proj')).toThrow(ShapeError);
    expect(() => foldDashIntoLora(factors, { ...good, U: randomMatrix(4, 3, rng) }, 'layers.3.v_proj')).toThrow(/layers\.3\.v_proj\.dash/);
    expect(() => foldDashIntoLora(factors, { ...good, d: Float32Array.from([1, Number.NaN, 3]) })).toThrow(NonFiniteError);
    const folded = foldDashIntoLora(factors, good);
    // The block structure: first r columns are scaling·B, the last s are U·diag(d).
    expect(folded.B.data[0]).toBe(Math.fround(2 * (factors.B.data[0] as number)));
    expect(folded.B.data[2 + 1]).toBe(Math.fround((good.U.data[1] as number) * 2));
    expect(Array.from(folded.A.data.subarray(12))).toEqual(Array.from(good.Vt.data));
  });
});
