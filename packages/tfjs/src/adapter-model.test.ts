import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, loraScalingFor } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import type { AdapterMethod } from './adapter-config.js';
import { injectAdapters } from './adapter-model.js';
import { injectPeftAdapter } from './adapter-io.js';
import { LINEAR_MODULES, baseProvider, forward, maxDiff, trainSgd, useTestModel } from './test-model.test-helper.js';

/*
 * Tolerances. Outputs here are O(1). Comparisons between two fp32 forwards
 * that compute the same function through differently rounded weights (merged
 * W + ΔW vs W·x + adapter terms; an exported rank-extended LoRA vs the
 * trained one) differ by a few fp32 ulps per product, accumulated over ≤ 20
 * terms and three layers: ~1e-6. 1e-5 leaves margin while any wrong sign,
 * scaling or missing term shows up as ≥ 1e-2 after training.
 */
const TOL = 1e-5;
const METHODS: AdapterMethod[] = ['lora', 'rslora', 'pissa', 'milora', 'lora-dash', 'lora-init', 'lora-tsd', 'full'];
const toy = useTestModel();

/** Short schedules so every phase (LoRA-Init re-init at 3, dash launch at 3 or 6) happens within 10 steps. */
function inject(method: AdapterMethod) {
  return injectAdapters(toy.weights, { method, r: 3, alpha: 6, s: 2, t: 3, initSteps: 3, seed: 5, targetModules: ['up', 'down'] });
}

describe('injectAdapters', () => {
  it('lists the available modules when a target matches nothing', () => {
    const make = () => injectAdapters(toy.weights, { method: 'lora', targetModules: ['up', 'q_proj'] });
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(/'q_proj' matched no 2-D weight; available modules: head, layers\.0\.down, layers\.0\.up, layers\.1\.down, layers\.1\.up/);
    expect(() => injectAdapters(toy.weights, { method: 'lora', targetModules: /nothing/ })).toThrow(/selected no module/);
    expect(() => injectAdapters(toy.weights, { method: 'vera' as AdapterMethod })).toThrow(/unknown method 'vera'/);
    expect(() => injectAdapters(toy.weights, { method: 'lora', r: 0, targetModules: ['up'] })).toThrow(/r must be a positive integer/);
  });

  it('targets by suffix, RegExp or all-linear, and ignores non-2-D weights', () => {
    const m1 = injectAdapters(toy.weights, { method: 'lora', targetModules: ['up'] });
    expect(m1.targetModules).toEqual(['layers.0.up', 'layers.1.up']);
    const m2 = injectAdapters(toy.weights, { method: 'lora', targetModules: /^layers\.1\./ });
    expect(m2.targetModules).toEqual(['layers.1.down', 'layers.1.up']);
    // 'all-linear' skips embeddings and lm_head only; 1-D norm.weight is never a candidate.
    const m3 = injectAdapters(toy.weights, { method: 'lora', r: 3, targetModules: 'all-linear' });
    expect(m3.targetModules).toEqual(['head', 'layers.0.down', 'layers.0.up', 'layers.1.down', 'layers.1.up']);
    [m1, m2, m3].forEach((m) => m.dispose());
  });

  it('makes only adapter tensors variables; frozen weights get no gradient and never change', () => {
    const before = tf.engine().state.numTensors;
    const varsBefore = Object.keys(tf.engine().registeredVariables).length;
    const model = inject('lora');
    expect([...model.trainableVariables().keys()]).toEqual(['layers.0.down', 'layers.0.up', 'layers.1.down', 'layers.1.up'].flatMap((m) => [`${m}.lora_A.weight`, `${m}.lora_B.weight`]));
    expect(Object.keys(tf.engine().registeredVariables).length - varsBefore).toBe(8);
    for (const w of toy.weights.values()) expect(w instanceof tf.Variable).toBe(false);
    const snapshot = [...toy.weights.values()].map((w) => Float32Array.from(w.dataSync()));
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(forward(model, toy.data.x))) as tf.Scalar);
    // tf.variableGrads with no list takes every trainable variable in the engine: exactly ours.
    expect(Object.keys(grads).sort()).toEqual([...model.trainableVariables().values()].map((v) => v.name).sort());
    tf.dispose([value, ...Object.values(grads)]);
    trainSgd(model, toy.data, 3);
    [...toy.weights.values()].forEach((w, i) => expect(w.dataSync()).toEqual(snapshot[i]));
    model.dispose();
    expect(tf.engine().state.numTensors).toBe(before);
  });

  it('uses alpha/r, or alpha/√r for rsLoRA', () => {
    expect(inject('lora').config.scaling).toBe(loraScalingFor(3, 6, false));
    const rs = inject('rslora');
    expect(rs.config.scaling).toBeCloseTo(6 / Math.sqrt(3), 15);
    expect(rs.toPeftAdapter().config.use_rslora).toBe(true);
  });

  it('keeps tf.memory().numTensors flat across repeated forwards and training steps', () => {
    const model = inject('lora-dash');
    trainSgd(model, toy.data, 4); // past the launch at step 3
    const y0 = forward(model, toy.data.x);
    y0.dispose();
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) forward(model, toy.data.x).dispose();
    expect(tf.memory().numTensors).toBe(n);
    trainSgd(model, toy.data, 2, 0.05, 4);
    expect(tf.memory().numTensors).toBe(n);
    model.dispose();
  });
});

describe.each(METHODS)('%s', (method) => {
  it('exports a PEFT adapter relative to the original W that reproduces the adapted forward', () => {
    const model = inject(method);
    const base = forward(baseProvider(toy.weights), toy.data.x);
    trainSgd(model, toy.data, 8);
    const adapted = forward(model, toy.data.x);
    expect(maxDiff(adapted, base)).toBeGreaterThan(1e-2); // training moved the function
    const peft = model.toPeftAdapter({ baseModel: 'synthetic' });
    expect(peft.config.base_model_name_or_path).toBe('synthetic');
    const plain = injectPeftAdapter(toy.weights, peft);
    const replayed = forward(plain, toy.data.x);
    expect(maxDiff(replayed, adapted)).toBeLessThanOrEqual(TOL);
    tf.dispose([base, adapted, replayed]);
    plain.dispose();
    model.dispose();
  });

  it('merges into the frozen weights reproducing the unmerged forward, and unmerges exactly', () => {
    const model = inject(method);
    trainSgd(model, toy.data, 8);
    const unmerged = forward(model, toy.data.x);
    model.merge();
    const merged = forward(model, toy.data.x);
    expect(maxDiff(merged, unmerged)).toBeLessThanOrEqual(TOL);
    expect(() => model.afterOptimizerStep(9)).toThrow(/unmerge\(\) before training/);
    model.unmerge();
    const again = forward(model, toy.data.x);
    expect(again.dataSync()).toEqual(unmerged.dataSync());
    tf.dispose([unmerged, merged, again]);
    model.dispose();
  });

  it('gives exactly the base forward with adapters disabled', () => {
    const model = inject(method);
    trainSgd(model, toy.data, 8);
    model.merge();
    model.disableAdapters();
    expect(model.isMerged).toBe(false);
    const off = forward(model, toy.data.x);
    const base = forward(baseProvider(toy.weights), toy.data.x);
    // Same toy.weights, same ops (a pre-transposed copy multiplies exactly like the flag), so equal up to
    // the kernel's summation order: compare tightly.
    expect(maxDiff(off, base)).toBeLessThanOrEqual(1e-6);
    model.enableAdapters();
    const on = forward(model, toy.data.x);
    expect(maxDiff(on, base)).toBeGreaterThan(1e-2);
    tf.dispose([off, base, on]);
    model.dispose();
  });

  it('gives the same rows and gradients for a single-row input (unfolded path) as in a batch (fused op)', () => {
    const model = inject(method);
    trainSgd(model, toy.data, 8);
    const name = 'layers.0.up';
    const row = tf.slice(toy.data.x, [3, 0], [1, -1]) as tf.Tensor2D;
    const single = model.linear(name, row);
    const batched = tf.slice(model.linear(name, toy.data.x), [3, 0], [1, -1]);
    expect(maxDiff(single, batched)).toBeLessThanOrEqual(1e-5);
    const vars = [...model.trainableVariables().entries()].filter(([k]) => k.startsWith(name)).map(([, v]) => v);
    const g = tf.randomNormal([1, 20], 0, 1, 'float32', 4);
    const viaRow = tf.variableGrads(() => tf.sum(tf.mul(model.linear(name, row), g)) as tf.Scalar, vars);
    // The same row repeated 16 times with the upstream gradient divided by 16: same parameter gradients, fused path.
    const rows16 = tf.tile(row, [16, 1]) as tf.Tensor2D;
    const viaBatch = tf.variableGrads(() => tf.div(tf.sum(tf.mul(model.linear(name, rows16), g)), 16) as tf.Scalar, vars);
    for (const v of vars) {
      const a = viaRow.grads[v.name] as tf.Tensor;
      const b = viaBatch.grads[v.name] as tf.Tensor;
      expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-5 * (1 + tf.max(tf.abs(a)).dataSync()[0]!));
    }
    tf.dispose([row, single, batched, g, rows16, viaRow.value, viaBatch.value, ...Object.values(viaRow.grads), ...Object.values(viaBatch.grads)]);
    model.dispose();
  });

  it('mergeAndUnload returns merged tensors for adapted modules and the caller’s own for the rest', () => {
    const model = inject(method);
    trainSgd(model, toy.data, 8);
    const adapted = forward(model, toy.data.x);
    const merged = model.mergeAndUnload();
    expect([...merged.keys()]).toEqual(LINEAR_MODULES.map((m) => `${m}.weight`).sort((a, b) => [...toy.weights.keys()].indexOf(a) - [...toy.weights.keys()].indexOf(b)));
    expect(merged.get('head.weight')).toBe(toy.weights.get('head.weight'));
    expect(merged.get('layers.0.up.weight')).not.toBe(toy.weights.get('layers.0.up.weight'));
    const replay = forward(baseProvider(merged), toy.data.x);
    expect(maxDiff(replay, adapted)).toBeLessThanOrEqual(TOL);
    expect(() => forward(model, toy.data.x)).toThrow(/disposed/);
    for (const [k, t] of merged) if (t !== toy.weights.get(k)) t.dispose();
    tf.dispose([adapted, replay]);
  });
});
