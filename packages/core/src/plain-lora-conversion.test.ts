import { describe, expect, it } from 'vitest';
import { dashDelta, foldDashIntoLora, type DashTerm } from './dash.js';
import { ShapeError } from './errors.js';
import { initLoraWeights } from './initializers.js';
import type { LoraFactors } from './lora-factors.js';
import { maxAbsDiff } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { loraDelta } from './merge.js';
import { toPlainLora } from './plain-lora-conversion.js';
import { Rng } from './random.js';
import { svd } from './svd-exact.js';
import { baseWeight, factorsOf, loadTrajectory, matrixOf, peftKey, tensor } from './tsd-fixtures.test-helper.js';
import { dashBasis } from './tsd-selection.js';

/** Trained-looking factors: the init factors plus a seeded perturbation. */
function perturb(f: LoraFactors, rng: Rng, size: number): LoraFactors {
  const A = Float32Array.from(f.A.data, (v) => v + size * rng.normal());
  const B = Float32Array.from(f.B.data, (v) => v + size * rng.normal());
  return { A: { ...f.A, data: A }, B: { ...f.B, data: B }, scaling: f.scaling };
}

/** W' + scaling·B·A + dash in float64: what the adapted layer computes. */
function adaptedWeight(residual: Matrix, factors: LoraFactors, dash?: DashTerm): Matrix<Float64Array> {
  const out = loraDelta(factors);
  for (let i = 0; i < out.data.length; i++) out.data[i] = (out.data[i] as number) + (residual.data[i] as number);
  if (dash !== undefined) {
    const dd = dashDelta(dash, dash.d);
    for (let i = 0; i < out.data.length; i++) out.data[i] = (out.data[i] as number) + (dd.data[i] as number);
  }
  return out;
}

function plus(W: Matrix, f: LoraFactors): Matrix<Float64Array> {
  const out = loraDelta(f);
  for (let i = 0; i < out.data.length; i++) out.data[i] = (out.data[i] as number) + (W.data[i] as number);
  return out;
}

describe('toPlainLora on stories260K (relative to the original W)', () => {
  const fx = loadTrajectory();

  it.each(['pissa', 'lora-init'] as const)('%s init + trained factors + dash: W + B̂Â reproduces the adapted layer', (method) => {
    const module = 'model.layers.1.self_attn.q_proj';
    const W = baseWeight(fx, module);
    const init = initLoraWeights(W, {
      r: 4,
      alpha: 8,
      method,
      estimate: factorsOf(fx.launchState, module, fx.scaling),
      name: module,
    });
    const residual = init.residual as Matrix<Float32Array>;
    const trained = perturb(init.factors, Rng.fromSeed(21), 0.05);
    // LoRA-TSD: dash directions come from the weight the layer holds (the residual W').
    const s = svd(residual, { name: module });
    const basis = dashBasis(s, [5, 40, 2]);
    const dash: DashTerm = { ...basis, d: Float32Array.from([0.03, -0.2, 0.11]) };
    const plain = toPlainLora({ factors: trained, init: init.factors, dash, name: module });
    expect(plain.scaling).toBe(1);
    expect(plain.A.rows).toBe(4 + 4 + 3);
    const target = adaptedWeight(residual, trained, dash);
    // Error budget: ½ulp of W' (float32 residual, ~2.4e-7 at |W'| < 4) plus float32
    // rounding of the scaled B̂ columns (~1e-7 each); 1e-6 leaves a 2× margin.
    const err = maxAbsDiff(plus(W, plain), target);
    expect(err).toBeLessThan(1e-6);
    // Without the init block the export is off by the whole initial part scaling₀·B₀A₀
    // (large for PiSSA's top directions, smaller for LoRA-Init's small-σ TSDs).
    const wrong = toPlainLora({ factors: trained, dash });
    const initPart = maxAbsDiff(loraDelta(init.factors), { rows: W.rows, cols: W.cols, data: new Float64Array(W.data.length) });
    expect(initPart).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(plus(W, wrong), target)).toBeGreaterThan(0.5 * initPart);
  });

  it('with no init it equals the folded dash, and with nothing else it is scaling·B·A', () => {
    const module = 'model.layers.3.self_attn.v_proj';
    const key = peftKey(module);
    const factors = factorsOf(fx.finalDash, module, fx.scaling);
    const dash: DashTerm = {
      U: matrixOf(fx.finalDash, `${key}.dash_U`),
      Vt: matrixOf(fx.finalDash, `${key}.dash_Vh`),
      d: tensor(fx.finalDash, `${key}.dash_d`).data,
    };
    const plain = toPlainLora({ factors, dash });
    const folded = foldDashIntoLora(factors, dash);
    expect(Array.from(plain.B.data)).toEqual(Array.from(folded.B.data));
    expect(Array.from(plain.A.data)).toEqual(Array.from(folded.A.data));
    const bare = toPlainLora({ factors });
    expect(bare.A.rows).toBe(4);
    // scaling = 2 is a power of two, so scaling·B is exact in float32.
    expect(maxAbsDiff(loraDelta(bare), loraDelta(factors))).toBe(0);
  });

  it('rejects init factors of another shape, naming the module', () => {
    const rng = Rng.fromSeed(8);
    const mk = (rows: number, cols: number) => ({ rows, cols, data: Float32Array.from({ length: rows * cols }, () => rng.normal()) });
    const factors: LoraFactors = { A: mk(2, 5), B: mk(4, 2), scaling: 1 };
    const init: LoraFactors = { A: mk(2, 6), B: mk(4, 2), scaling: 1 };
    expect(() => toPlainLora({ factors, init, name: 'layers.2.k_proj' })).toThrow(ShapeError);
    expect(() => toPlainLora({ factors, init, name: 'layers.2.k_proj' })).toThrow(/layers\.2\.k_proj\.init/);
  });
});
