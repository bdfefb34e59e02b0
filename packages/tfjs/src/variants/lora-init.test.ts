import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, changeRates, initLoraWeights, readLoraRecord, selectTaskSpecificDirections, svd, toPlainLora, type LoraFactors, type Matrix } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { injectAdapters, type AdapterModel } from '../adapter-model.js';
import { baseProvider, forward, loraFactorsOf, maxDiff, tensorMatrix, trainSgd, useTestModel } from '../test-model.test-helper.js';

const toy = useTestModel();

const INIT = 3;
const MODULES = ['layers.0.down', 'layers.0.up', 'layers.1.down', 'layers.1.up'];

/** Plain arrays of every selection field, so toEqual compares values and presence exactly. */
function selectionsOf(model: AdapterModel): Record<string, Record<string, number[]>> {
  const plain = (info: object) => Object.fromEntries(Object.entries(info).map(([k, v]) => [k, Array.from(v as ArrayLike<number>)]));
  return Object.fromEntries([...model.tsdSelections()].map(([m, info]) => [m, plain(info)]));
}

function weightMatrix(name: string): Matrix<Float32Array> {
  return tensorMatrix(toy.weights.get(`${name}.weight`) as tf.Tensor);
}

describe('LoRA-Init with the prelaunch estimate', () => {
  it('re-initialises at initSteps on the top change-rate directions of the pre-launch ΔW, asking for an optimizer reset', () => {
    const model = injectAdapters(toy.weights, { method: 'lora-init', r: 2, alpha: 4, initSteps: INIT, seed: 3, targetModules: ['up', 'down'] });
    const resets = trainSgd(model, toy.data, INIT - 1);
    expect(resets.every((r) => r.length === 0)).toBe(true);
    expect(model.tsdSelections().size).toBe(0);
    // An independent exact SVD (no cache) of each original W, and the rates of the pre-launch scaling·B·A.
    const expected = new Map(
      MODULES.map((m) => {
        const rates = changeRates(svd(weightMatrix(m)), loraFactorsOf(model, m, 2));
        return [m, { selected: selectTaskSpecificDirections(rates, 2), rates }];
      }),
    );
    model.afterOptimizerStep(INIT);
    expect(model.consumeResetRequests()).toEqual(MODULES.flatMap((m) => [`${m}.lora_A.weight`, `${m}.lora_B.weight`]));
    expect(model.consumeResetRequests()).toEqual([]);
    for (const m of MODULES) {
      const info = model.tsdSelections().get(m);
      const want = expected.get(m);
      expect(Array.from(info?.initSelected ?? [])).toEqual(Array.from(want?.selected ?? []));
      // the same float64 arithmetic on the same SVD and factors: equal to the last bit
      expect(Array.from(info?.initRates ?? [])).toEqual(Array.from(want?.rates.rates ?? []));
      expect(Array.from(info?.sigma ?? [])).toEqual(Array.from(want?.rates.sigma ?? []));
      expect(info?.dashRates).toBeUndefined();
    }
    // W' + scaling·B₀A₀ = W: right after the re-init the model computes the base function again
    // (up to one fp32 rounding of W' per weight, ~1e-7 relative; 1e-5 absolute on O(1) outputs).
    const y = forward(model, toy.data.x);
    const base = forward(baseProvider(toy.weights), toy.data.x);
    expect(maxDiff(y, base)).toBeLessThanOrEqual(1e-5);
    // later steps never re-initialise again
    const later = trainSgd(model, toy.data, 3, 0.05, INIT);
    expect(later.every((r) => r.length === 0)).toBe(true);
    tf.dispose([y, base]);
    model.dispose();
  });

  it('restores the residual bit for bit from a checkpoint, before and after the re-init', () => {
    for (const steps of [INIT - 1, INIT + 2]) {
      const model = injectAdapters(toy.weights, { method: 'lora-init', r: 2, alpha: 4, initSteps: INIT, seed: 3, targetModules: ['up', 'down'] });
      trainSgd(model, toy.data, steps);
      const reference = forward(model, toy.data.x);
      const fresh = injectAdapters(toy.weights, { method: 'lora-init', r: 2, alpha: 4, initSteps: INIT, seed: 4, targetModules: ['up', 'down'] });
      fresh.restoreCheckpointState(model.checkpointState());
      for (const [k, v] of fresh.trainableVariables()) v.assign(model.trainableVariables().get(k) as tf.Variable);
      const resumed = forward(fresh, toy.data.x);
      expect(resumed.dataSync()).toEqual(reference.dataSync());
      // the chosen directions come back with their change rates and σ (none before the re-init)
      expect(selectionsOf(fresh)).toEqual(selectionsOf(model));
      expect(Object.keys(selectionsOf(fresh)).length).toBe(steps > INIT ? 4 : 0);
      // and the resumed model keeps to the schedule
      trainSgd(fresh, toy.data, 2, 0.05, steps);
      expect(fresh.tsdSelections().size).toBe(4);
      tf.dispose([reference, resumed]);
      model.dispose();
      fresh.dispose();
    }
  });
});

describe('LoRA-Init with the gradient estimate', () => {
  it('uses −Σ ∂L/∂W over the given batches (checked against the analytic gradient of a linear model)', () => {
    const lin = new Map<string, tf.Tensor>([['lin.weight', toy.weights.get('layers.0.up.weight') as tf.Tensor]]);
    const model = injectAdapters(lin, { method: 'lora-init', r: 3, alpha: 3, initEstimate: 'gradient', targetModules: ['lin'] });
    expect(() => model.afterOptimizerStep(1)).toThrow(ConfigError);
    const target = tf.randomNormal([toy.data.x.shape[0], 20], 0, 1, 'float32', 11) as tf.Tensor2D;
    const loss = () => tf.tidy(() => tf.mul(tf.sum(tf.squaredDifference(model.linear('lin', toy.data.x), target)), 0.5) as tf.Scalar);
    model.estimateInitFromGradients([loss, loss]);
    // L = ½‖X·Wᵀ − T‖² ⇒ ∂L/∂W = (X·Wᵀ − T)ᵀ·X; two identical batches ⇒ estimate = −2·that, in float64.
    const W = weightMatrix('layers.0.up');
    const X = toy.data.x.dataSync();
    const Tt = target.dataSync();
    const n = toy.data.x.shape[0];
    const est = new Float64Array(W.rows * W.cols);
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < W.rows; o++) {
        let y = 0;
        for (let i = 0; i < W.cols; i++) y += (X[r * W.cols + i] as number) * (W.data[o * W.cols + i] as number);
        const e = y - (Tt[r * W.rows + o] as number);
        for (let i = 0; i < W.cols; i++) est[o * W.cols + i] = (est[o * W.cols + i] as number) - 2 * e * (X[r * W.cols + i] as number);
      }
    }
    const want = initLoraWeights(W, { method: 'lora-init', r: 3, alpha: 3, estimate: { rows: W.rows, cols: W.cols, data: est } });
    expect(Array.from(model.tsdSelections().get('lin')?.initSelected ?? [])).toEqual(Array.from(want.selected ?? []));
    // The reported rates are those of the estimate: fp32 gradients vs this float64 estimate differ by
    // ~1e-7 relative per entry; 1e-5 of the largest rate bounds every rate's error.
    const wantRates = changeRates(svd(W), { rows: W.rows, cols: W.cols, data: est }).rates;
    const gotRates = model.tsdSelections().get('lin')?.initRates ?? new Float64Array();
    expect(gotRates).toHaveLength(wantRates.length);
    const top = Math.max(...wantRates);
    wantRates.forEach((r, i) => expect(Math.abs((gotRates[i] as number) - r)).toBeLessThanOrEqual(1e-5 * top));
    const got = loraFactorsOf(model, 'lin', 1);
    // Same directions from the same exact SVD: the factors agree to fp32 rounding.
    got.A.data.forEach((v, i) => expect(Math.abs(v - (want.factors.A.data[i] as number))).toBeLessThanOrEqual(1e-5));
    model.afterOptimizerStep(1); // fine once initialised
    tf.dispose(target);
    model.dispose();
  });
});

describe('LoRA-TSD', () => {
  it('re-inits at initSteps, then launches dash t steps later on the update since the re-init', () => {
    const model = injectAdapters(toy.weights, { method: 'lora-tsd', r: 2, alpha: 4, s: 2, t: 2, initSteps: INIT, seed: 3, targetModules: ['up'] });
    trainSgd(model, toy.data, INIT);
    const afterInit = model.tsdSelections().get('layers.0.up');
    expect(afterInit?.initSelected?.length).toBe(2);
    expect(afterInit?.dashSelected).toBeUndefined();
    trainSgd(model, toy.data, 1, 0.05, INIT);
    expect(model.tsdSelections().get('layers.0.up')?.dashSelected).toBeUndefined();
    // Expected launch selection: ΔW = scaling·BA − scaling·B₀A₀ relative to the original W.
    const record = model.toNativeAdapter().modules.get('layers.0.up');
    const stored = record === undefined ? undefined : readLoraRecord(record, { module: 'layers.0.up' }).init;
    if (stored === undefined) throw new Error('expected init factors');
    const init: LoraFactors = { A: stored.A0, B: stored.B0, scaling: stored.scaling };
    const delta = toPlainLora({ factors: loraFactorsOf(model, 'layers.0.up', 2), init });
    const expected = selectTaskSpecificDirections(changeRates(svd(weightMatrix('layers.0.up')), delta), 2);
    model.afterOptimizerStep(INIT + 2);
    expect(Array.from(model.tsdSelections().get('layers.0.up')?.dashSelected ?? [])).toEqual(Array.from(expected));
    model.dispose();
  });
});
