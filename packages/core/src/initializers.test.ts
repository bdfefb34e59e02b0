import { describe, expect, it } from 'vitest';
import { changeRates } from './change-rates.js';
import { ConfigError, NonFiniteError, ShapeError } from './errors.js';
import { initLoraWeights, type LoraInitMethod } from './initializers.js';
import type { LoraFactors } from './lora-factors.js';
import { maxAbsDiff } from './matrix-ops.js';
import type { Matrix } from './matrix.js';
import { loraDelta } from './merge.js';
import { Rng } from './random.js';
import { svd } from './svd-exact.js';
import type { SvdResult } from './svd-types.js';
import { baseWeight, factorsOf, loadTrajectory } from './tsd-fixtures.test-helper.js';

const Q0 = 'model.layers.0.self_attn.q_proj';
const V2 = 'model.layers.2.self_attn.v_proj';

/** Σⱼ σ_idx uᵢ vᵢᵀ over the given directions, float64. */
function svdPart(s: SvdResult, indices: ArrayLike<number>): Matrix<Float64Array> {
  const m = s.U.rows;
  const n = s.Vt.cols;
  const k = s.S.length;
  const out = new Float64Array(m * n);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j] as number;
    for (let o = 0; o < m; o++) {
      const c = (s.U.data[o * k + i] as number) * (s.S[i] as number);
      for (let t = 0; t < n; t++) out[o * n + t] = (out[o * n + t] as number) + c * (s.Vt.data[i * n + t] as number);
    }
  }
  return { rows: m, cols: n, data: out };
}

function addInto(a: Matrix<Float64Array>, b: Matrix): Matrix<Float64Array> {
  const data = Float64Array.from(a.data, (v, i) => v + (b.data[i] as number));
  return { rows: a.rows, cols: a.cols, data };
}

function ulpOf(m: Matrix): number {
  let x = 0;
  for (const v of m.data) x = Math.max(x, Math.abs(v));
  return 2 ** (Math.floor(Math.log2(x)) - 23);
}

describe('initLoraWeights: SVD-based methods on stories260K weights', () => {
  const fx = loadTrajectory();

  it.each([
    ['pissa', [0, 1, 2, 3]],
    ['milora', [60, 61, 62, 63]],
  ] as const)('%s: picks the expected directions and residual + scaling·BA == W', (method, expected) => {
    const W = baseWeight(fx, Q0);
    const s = svd(W, { name: Q0 });
    for (const useRslora of [false, true]) {
      const res = initLoraWeights(W, { r: 4, alpha: 8, useRslora, method, svd: s, name: Q0 });
      const scaling = useRslora ? 4 : 2;
      expect(res.factors.scaling).toBe(scaling);
      expect(Array.from(res.selected ?? [])).toEqual(expected);
      const residual = res.residual;
      if (residual === undefined) throw new Error('no residual');
      // W' is rounded once to float32 from an exact float64 W − scaling·BA: ≤ ½ ulp of |W'|.
      expect(maxAbsDiff(addInto(loraDelta(res.factors), residual), W)).toBeLessThanOrEqual(ulpOf(residual) / 2);
      // scaling·BA is the chosen rank-r part of W, up to float32 rounding of the factors
      // (|B|,|A| ≤ √σ_max, so products carry ~2·2⁻²⁴·σ_max ≈ 1.3e-6 at σ_max ≈ 10.8).
      expect(maxAbsDiff(loraDelta(res.factors), svdPart(s, expected))).toBeLessThan(4e-6);
      // PEFT's construction: B = U_r √(σ/scaling), A = √(σ/scaling) V_rᵀ.
      const i0 = expected[0];
      const root = Math.sqrt((s.S[i0] as number) / scaling);
      expect(res.factors.B.data[0]).toBe(Math.fround((s.U.data[i0] as number) * root));
      expect(res.factors.A.data[0]).toBe(Math.fround(root * (s.Vt.data[i0 * 64] as number)));
      // σ comes back as a copy (the SVD may be a shared cache entry); no change rates outside LoRA-Init.
      expect(Array.from(res.sigma ?? [])).toEqual(Array.from(s.S));
      expect(res.sigma).not.toBe(s.S);
      expect(res.changeRates).toBeUndefined();
    }
  });

  it('lora-init with the pre-launch ΔW picks the same directions LoRA-Dash launched on', () => {
    // The LoRA-Init default estimate is the pre-launch ΔW; with r = s it must
    // reproduce the reference top_index exactly, in the same order.
    for (const module of [Q0, V2]) {
      const W = baseWeight(fx, module);
      const res = initLoraWeights(W, {
        r: 4,
        alpha: 8,
        method: 'lora-init',
        estimate: factorsOf(fx.launchState, module, fx.scaling),
        name: module,
      });
      expect(Array.from(res.selected ?? [])).toEqual(fx.launch[module]?.top_index);
      const residual = res.residual as Matrix<Float32Array>;
      expect(maxAbsDiff(addInto(loraDelta(res.factors), residual), W)).toBeLessThanOrEqual(ulpOf(residual) / 2);
    }
  });

  it('lora-init picks exactly the directions a constructed estimate targets, dense or factored', () => {
    const W = baseWeight(fx, V2);
    const s = svd(W, { name: V2 });
    const k = s.S.length;
    // ΔŴ = Σ ρⱼ σⱼ uⱼ vⱼᵀ moves direction j by rate ρⱼ exactly, others by 0.
    const targets = [17, 3, 29, 11];
    const rho = [0.9, 0.6, 0.4, 0.2];
    const Bdata = new Float32Array(W.rows * 4);
    const Adata = new Float32Array(4 * W.cols);
    for (let j = 0; j < 4; j++) {
      const i = targets[j] as number;
      for (let o = 0; o < W.rows; o++) Bdata[o * 4 + j] = (s.U.data[o * k + i] as number) * (rho[j] as number) * (s.S[i] as number);
      for (let c = 0; c < W.cols; c++) Adata[j * W.cols + c] = s.Vt.data[i * W.cols + c] as number;
    }
    const estimate: LoraFactors = { A: { rows: 4, cols: W.cols, data: Adata }, B: { rows: W.rows, cols: 4, data: Bdata }, scaling: 1 };
    for (const est of [estimate, loraDelta(estimate)]) {
      const res = initLoraWeights(W, { r: 3, alpha: 3, method: 'lora-init', svd: s, estimate: est, name: V2 });
      expect(Array.from(res.selected ?? [])).toEqual([17, 3, 29]);
      // It returns the change rates it chose by: exactly core's changeRates, and ρ on the targets
      // (float32 factors of ΔŴ carry ~1e-7 relative error; 1e-5 absolute on rates ≤ 0.9 is ample).
      const want = changeRates(s, est, `${V2}.estimate`);
      expect(Array.from(res.changeRates?.rates ?? [])).toEqual(Array.from(want.rates));
      expect(Array.from(res.changeRates?.projections ?? [])).toEqual(Array.from(want.projections));
      const rates = res.changeRates?.rates ?? new Float64Array(k);
      for (let i = 0; i < k; i++) {
        const j = targets.indexOf(i);
        expect(Math.abs((rates[i] as number) - (j < 0 ? 0 : (rho[j] as number))), `direction ${i}`).toBeLessThan(1e-5);
      }
      expect(Array.from(res.sigma ?? [])).toEqual(Array.from(s.S));
      // The factors span exactly those directions: scaling·BA = Σ σᵢ uᵢ vᵢᵀ over them.
      expect(maxAbsDiff(loraDelta(res.factors), svdPart(s, [17, 3, 29]))).toBeLessThan(4e-6);
    }
  });
});

describe('initLoraWeights: random methods', () => {
  const W: Matrix<Float32Array> = { rows: 48, cols: 100, data: new Float32Array(4800).fill(0.5) };

  it("'lora' draws A ~ U(−1/√in, 1/√in) (PEFT kaiming_uniform_(a=√5)) and B = 0", () => {
    const { factors, residual } = initLoraWeights(W, { r: 40, alpha: 16, method: 'lora', rng: Rng.fromSeed(9) });
    expect(residual).toBeUndefined();
    expect(factors.scaling).toBe(16 / 40);
    expect(factors.B.data.every((v) => v === 0)).toBe(true);
    const bound = 1 / Math.sqrt(100);
    let sum = 0;
    let sq = 0;
    let max = 0;
    for (const v of factors.A.data) {
      sum += v;
      sq += v * v;
      max = Math.max(max, Math.abs(v));
    }
    const n = factors.A.data.length;
    expect(max).toBeLessThanOrEqual(Math.fround(bound));
    expect(max).toBeGreaterThan(0.99 * bound);
    // Mean 0 ± 5 standard errors (b/√(3n)); variance b²/3 within 5% (n = 4000).
    expect(Math.abs(sum / n)).toBeLessThan((5 * bound) / Math.sqrt(3 * n));
    expect(sq / n / ((bound * bound) / 3)).toBeCloseTo(1, 1);
  });

  it("'gaussian' draws A with std 1/r as PEFT's init_lora_weights=\"gaussian\", B = 0", () => {
    const { factors } = initLoraWeights(W, { r: 8, alpha: 8, method: 'gaussian', rng: Rng.fromSeed(4) });
    expect(factors.B.data.every((v) => v === 0)).toBe(true);
    let sq = 0;
    for (const v of factors.A.data) sq += v * v;
    // 800 samples: the sample variance is within ±15% of 1/r² at > 3σ.
    expect(Math.sqrt(sq / factors.A.data.length) * 8).toBeGreaterThan(0.85);
    expect(Math.sqrt(sq / factors.A.data.length) * 8).toBeLessThan(1.15);
  });

  it('is reproducible from the rng state', () => {
    const a = initLoraWeights(W, { r: 2, alpha: 4, method: 'lora', rng: Rng.fromSeed(1) });
    const b = initLoraWeights(W, { r: 2, alpha: 4, method: 'lora', rng: Rng.fromSeed(1) });
    expect(Array.from(a.factors.A.data)).toEqual(Array.from(b.factors.A.data));
    // No SVD is taken for the random methods, so neither σ nor change rates come back.
    expect(a.sigma).toBeUndefined();
    expect(a.changeRates).toBeUndefined();
  });
});

describe('initLoraWeights: bad input', () => {
  const rng = Rng.fromSeed(0);
  const W: Matrix<Float32Array> = { rows: 6, cols: 4, data: Float32Array.from({ length: 24 }, () => rng.normal()) };

  it('throws typed errors naming the module', () => {
    const name = 'model.layers.1.self_attn.q_proj';
    const base = { alpha: 8, name, rng: Rng.fromSeed(1) };
    expect(() => initLoraWeights(W, { ...base, r: 5, method: 'pissa' })).toThrow(ShapeError);
    expect(() => initLoraWeights(W, { ...base, r: 5, method: 'lora' })).toThrow(new RegExp(name.replace(/\./g, '\\.')));
    expect(() => initLoraWeights(W, { ...base, r: 0, method: 'milora' })).toThrow(ShapeError);
    const nan: Matrix<Float32Array> = { ...W, data: W.data.slice() };
    nan.data[13] = Number.POSITIVE_INFINITY;
    expect(() => initLoraWeights(nan, { ...base, r: 2, method: 'pissa' })).toThrow(NonFiniteError);
    expect(() => initLoraWeights(nan, { ...base, r: 2, method: 'pissa' })).toThrow(/row 3, column 1/);
    expect(() => initLoraWeights(W, { r: 2, alpha: 8, method: 'lora' })).toThrow(ConfigError);
    expect(() => initLoraWeights(W, { r: 2, alpha: 8, method: 'lora-init' })).toThrow(ConfigError);
    expect(() => initLoraWeights(W, { r: 2, alpha: 0, method: 'pissa' })).toThrow(ConfigError);
    expect(() => initLoraWeights(W, { r: 2, alpha: 8, method: 'olora' as LoraInitMethod })).toThrow(ConfigError);
    const wrongEstimate: Matrix<Float32Array> = { rows: 4, cols: 6, data: new Float32Array(24) };
    expect(() => initLoraWeights(W, { ...base, r: 2, method: 'lora-init', estimate: wrongEstimate })).toThrow(ShapeError);
    const otherSvd = svd({ rows: 4, cols: 6, data: W.data });
    expect(() => initLoraWeights(W, { ...base, r: 2, method: 'pissa', svd: otherSvd })).toThrow(/svd/);
  });
});
