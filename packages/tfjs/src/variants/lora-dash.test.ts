import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  changeRates,
  createPeftAdapter,
  dashDelta,
  parseNativeAdapter,
  parseSafetensors,
  readLoraRecord,
  serializeNativeAdapter,
  selectTaskSpecificDirections,
  svd,
  tensorToFloat32,
  type LoraFactors,
} from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import type { AdapterConfig } from '../adapter-config.js';
import { injectAdapters, type AdapterModel } from '../adapter-model.js';
import { DIM, forward, loraFactorsOf, mseLoss, tensorMatrix, trainSgd, useTestModel } from '../test-model.test-helper.js';
import { indexedBatches } from '../trainer/data-source.js';
import { train } from '../trainer/train.js';

const toy = useTestModel();

/** A module's dash state as its native record holds it. */
function dashOf(model: AdapterModel, name: string) {
  const record = model.toNativeAdapter().modules.get(name);
  return record === undefined ? undefined : readLoraRecord(record, { module: name }).dash;
}

const T = 4;
const S = 3;
const inject = () => injectAdapters(toy.weights, { method: 'lora-dash', r: 2, alpha: 4, s: S, t: T, seed: 9, targetModules: ['up', 'down'] });

describe('LoRA-Dash launch', () => {
  it('launches after exactly t optimizer steps, with d = 0 leaving the function unchanged', () => {
    const model = inject();
    trainSgd(model, toy.data, T - 1);
    expect(model.tsdSelections().size).toBe(0);
    expect([...model.trainableVariables().keys()].some((k) => k.endsWith('dash_d'))).toBe(false);
    const before = forward(model, toy.data.x);
    model.afterOptimizerStep(T);
    expect(model.tsdSelections().size).toBe(4);
    const dNames = [...model.trainableVariables().keys()].filter((k) => k.endsWith('.dash_d'));
    expect(dNames).toEqual(['layers.0.down.dash_d', 'layers.0.up.dash_d', 'layers.1.down.dash_d', 'layers.1.up.dash_d']);
    for (const n of dNames) expect(Array.from(model.trainableVariables().get(n)?.dataSync() ?? [])).toEqual([0, 0, 0]);
    const after = forward(model, toy.data.x);
    expect(after.dataSync()).toEqual(before.dataSync()); // adding ((x·V) ⊙ 0)·Uᵀ is exact
    tf.dispose([before, after]);
    model.dispose();
  });

  it("selects exactly core's top-s change-rate directions of the current scaling·B·A", () => {
    const model = inject();
    trainSgd(model, toy.data, T - 1);
    const expected = new Map<string, { idx: Int32Array; rates: Float64Array }>();
    for (const name of model.targetModules) {
      const factors = loraFactorsOf(model, name, 2);
      // An independent exact SVD (no cache) of the original W.
      const rates = changeRates(svd(tensorMatrix(toy.weights.get(`${name}.weight`) as tf.Tensor)), factors);
      expected.set(name, { idx: selectTaskSpecificDirections(rates, S), rates: rates.rates });
    }
    model.afterOptimizerStep(T);
    for (const [name, info] of model.tsdSelections()) {
      const want = expected.get(name);
      expect(Array.from(info.dashSelected ?? [])).toEqual(Array.from(want?.idx ?? []));
      expect(Array.from(info.dashRates ?? [])).toEqual(Array.from(want?.rates ?? []));
    }
    model.dispose();
  });

  it('adds the unscaled x·(U_s diag(d) V_sᵀ)ᵀ after launch, with d trained', () => {
    const model = inject();
    trainSgd(model, toy.data, T + 5);
    const name = 'layers.0.up';
    const d = model.trainableVariables().get(`${name}.dash_d`) as tf.Variable;
    const dValues = Float32Array.from(d.dataSync());
    expect(dValues.some((v) => Math.abs(v) > 1e-4)).toBe(true);
    const dash = dashOf(model, name);
    if (dash === undefined || !dash.launched) throw new Error('expected a launched dash state');
    const x = toy.data.x;
    const withDash = model.linear(name, x);
    d.assign(tf.zerosLike(d));
    const withoutDash = model.linear(name, x);
    d.assign(tf.tensor1d(dValues));
    // Expected difference x·ΔW_dashᵀ with ΔW_dash = U_s diag(d) V_sᵀ from core, in float64.
    const delta = dashDelta({ U: dash.U, Vt: dash.Vt }, dValues);
    const xs = x.dataSync();
    const diff = tf.sub(withDash, withoutDash).dataSync();
    const out = delta.rows;
    let worst = 0;
    for (let n = 0; n < x.shape[0]; n++) {
      for (let o = 0; o < out; o++) {
        let v = 0;
        for (let i = 0; i < DIM; i++) v += (xs[n * DIM + i] as number) * (delta.data[o * DIM + i] as number);
        worst = Math.max(worst, Math.abs(v - (diff[n * out + o] as number)));
      }
    }
    // fp32 forward vs float64: terms O(0.1–1), ≤ 12-term sums → ~1e-6.
    expect(worst).toBeLessThanOrEqual(1e-5);
    tf.dispose([withDash, withoutDash]);
    model.dispose();
  });

  it('restores launch state from a checkpoint and from a native adapter, bit for bit', () => {
    const model = inject();
    trainSgd(model, toy.data, T + 3);
    const reference = forward(model, toy.data.x);
    const cp = model.checkpointState();
    const values = new Map([...model.trainableVariables()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
    const fresh = inject();
    fresh.restoreCheckpointState(cp);
    expect(fresh.steps).toBe(T + 3);
    // what the trainer does next: restore variable values by name (d now exists again)
    expect([...fresh.trainableVariables().keys()]).toEqual([...model.trainableVariables().keys()]);
    for (const [k, v] of fresh.trainableVariables()) v.assign(tf.tensor(values.get(k) as Float32Array, v.shape));
    const resumed = forward(fresh, toy.data.x);
    expect(resumed.dataSync()).toEqual(reference.dataSync());
    const viaNative = inject();
    viaNative.loadNativeAdapter(model.toNativeAdapter());
    const loaded = forward(viaNative, toy.data.x);
    expect(loaded.dataSync()).toEqual(reference.dataSync());
    tf.dispose([reference, resumed, loaded]);
    [model, fresh, viaNative].forEach((m) => m.dispose());
  });
});

/** Plain arrays of every selection field, so toEqual compares values and presence exactly. */
function selectionsOf(model: AdapterModel): Record<string, Record<string, number[]>> {
  const plain = (info: object) => Object.fromEntries(Object.entries(info).map(([k, v]) => [k, Array.from(v as ArrayLike<number>)]));
  return Object.fromEntries([...model.tsdSelections()].map(([m, info]) => [m, plain(info)]));
}

describe.each([
  { method: 'lora-dash', r: 2, alpha: 4, s: S, t: T, seed: 9, targetModules: ['up', 'down'] },
  { method: 'lora-tsd', r: 2, alpha: 4, s: S, t: T, initSteps: 2, seed: 9, targetModules: ['up', 'down'] },
] satisfies AdapterConfig[])('$method selections survive a resume across the launch', (config) => {
  const launchAt = config.t + (config.initSteps ?? 0);
  const STEPS = launchAt + 4;

  /** The trainer with checkpoints every 2 steps; `crashAt` throws after that step, as a killed process would stop. */
  async function run(dir: string, options: { crashAt?: number; resume?: boolean } = {}) {
    const model = injectAdapters(toy.weights, config);
    try {
      const result = await train({
        model,
        data: indexedBatches(() => toy.data),
        lossFn: (b) => mseLoss(model, b.x, b.target),
        steps: STEPS,
        lr: 1e-2,
        checkpoint: { dir, every: 2 },
        resume: options.resume ?? false,
        onProgress: (e) => {
          if (e.step === options.crashAt) throw new Error('simulated crash');
        },
      });
      return { result, selections: selectionsOf(model), native: serializeNativeAdapter(model.toNativeAdapter()) };
    } finally {
      model.dispose();
    }
  }

  it('tsdSelections() after resuming from a checkpoint past the launch equals the uninterrupted run', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'tsd-dash-')), mkdtempSync(join(tmpdir(), 'tsd-dash-'))];
    try {
      const straight = await run(dirs[0] as string);
      const info = straight.selections['layers.0.up'];
      // the launch recorded every direction's rate and σ (min(20, 12) = 12 directions), LoRA-TSD its init's too
      expect(info?.dashSelected).toHaveLength(S);
      expect(info?.dashRates).toHaveLength(12);
      expect(info?.sigma).toHaveLength(12);
      if (config.method === 'lora-tsd') expect(info?.initRates).toHaveLength(12);
      await expect(run(dirs[1] as string, { crashAt: launchAt + 3 })).rejects.toThrow('simulated crash');
      const resumed = await run(dirs[1] as string, { resume: true });
      expect(resumed.result.resumedFromStep).toBe(launchAt + 2); // a checkpoint after the launch
      expect(resumed.result.lossHistory).toEqual(straight.result.lossHistory);
      expect(resumed.selections).toEqual(straight.selections);
      // and the native file of the resumed run is byte-identical (spectra included)
      expect(resumed.native).toEqual(straight.native);
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tsdSelections() after loading the native adapter equals the original', () => {
    const model = injectAdapters(toy.weights, config);
    trainSgd(model, toy.data, launchAt + 1);
    const fresh = injectAdapters(toy.weights, { ...config, seed: 99 });
    fresh.loadNativeAdapter(parseNativeAdapter(serializeNativeAdapter(model.toNativeAdapter()), 'adapter.safetensors'));
    expect(Object.keys(selectionsOf(model))).toHaveLength(4);
    expect(selectionsOf(fresh)).toEqual(selectionsOf(model));
    model.dispose();
    fresh.dispose();
  });
});

describe('LoRA-Dash on a rank-deficient W', () => {
  it('keeps a +Infinity change rate (σᵢ = 0) through checkpoint JSON and the native file', () => {
    // W [6, 4] = diag(3, 1) padded with zeros: directions 2 and 3 have σ = 0 exactly, and a generic ΔW
    // moves them, so their change rate is +Infinity (core's convention for σᵢ = 0).
    const w = new Float32Array(24);
    w[0] = 3;
    w[5] = 1;
    const lin = new Map<string, tf.Tensor>([['lin.weight', tf.tensor2d(w, [6, 4])]]);
    const config: AdapterConfig = { method: 'lora-dash', r: 2, alpha: 2, s: 2, t: 1, targetModules: ['lin'] };
    const model = injectAdapters(lin, config);
    const factors: LoraFactors = {
      A: { rows: 2, cols: 4, data: Float32Array.from([1, -2, 0.5, 3, 0.25, 1, -1, 2]) },
      B: { rows: 6, cols: 2, data: Float32Array.from({ length: 12 }, (_, k) => 0.1 * (k - 5)) },
      scaling: 1,
    };
    model.loadPeftAdapter(createPeftAdapter(new Map([['lin', factors]]), { r: 2, lora_alpha: 2, target_modules: ['lin'] }));
    model.afterOptimizerStep(1);
    const info = model.tsdSelections().get('lin');
    expect(Array.from(info?.dashRates ?? []).filter((r) => r === Number.POSITIVE_INFINITY)).toHaveLength(2);
    // the checkpoint's JSON part goes through JSON.stringify in the trainer's file
    const cp = model.checkpointState();
    const viaJson = { tensors: cp.tensors, meta: JSON.parse(JSON.stringify(cp.meta)) as Record<string, unknown> };
    const fresh = injectAdapters(lin, config);
    fresh.restoreCheckpointState(viaJson);
    expect(selectionsOf(fresh)).toEqual(selectionsOf(model));
    const viaNative = injectAdapters(lin, config);
    viaNative.loadNativeAdapter(parseNativeAdapter(serializeNativeAdapter(model.toNativeAdapter())));
    expect(selectionsOf(viaNative)).toEqual(selectionsOf(model));
    [model, fresh, viaNative].forEach((m) => m.dispose());
    tf.dispose([...lin.values()]);
  });
});

describe('LoRA-Dash on the real stories260K launch (reference/lora-dash-trajectory)', () => {
  it('selects the reference top-4 directions of all 10 modules from the reference A, B at launch', () => {
    // Plain Uint8Array copies: core's F32 decoding slices its input, and a Node Buffer's slice is a view.
    const read = (...p: string[]) => parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', ...p))));
    const modelFile = read('hf', 'stories260K', 'model.safetensors');
    const launchFile = read('lora-dash-trajectory', 'launch_state.safetensors');
    const launchJson = JSON.parse(readFileSync(fixturePath('reference', 'lora-dash-trajectory', 'launch.json'), 'utf8')) as {
      modules: Record<string, { top_index: number[]; change_rate: number[] }>;
    };
    const real = new Map<string, tf.Tensor>();
    for (const [name, t] of modelFile.tensors) real.set(name, tf.tensor(tensorToFloat32(t, name), t.shape));
    const model = injectAdapters(real, { method: 'lora-dash', r: 4, alpha: 8, s: 4, t: 20, targetModules: ['q_proj', 'v_proj'] });
    const factor = (module: string, part: string) => {
      const key = `base_model.model.${module}.${part}`;
      const t = launchFile.tensors.get(key);
      if (t === undefined) throw new Error(`missing ${key}`);
      return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: tensorToFloat32(t, key) };
    };
    const modules = new Map<string, LoraFactors>(model.targetModules.map((m) => [m, { A: factor(m, 'lora_A.weight'), B: factor(m, 'lora_B.weight'), scaling: 2 }]));
    model.loadPeftAdapter(createPeftAdapter(modules, { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
    model.afterOptimizerStep(20);
    const selections = model.tsdSelections();
    expect(selections.size).toBe(10);
    for (const [name, ref] of Object.entries(launchJson.modules)) {
      const info = selections.get(name);
      expect(Array.from(info?.dashSelected ?? [])).toEqual(ref.top_index);
      // torch computed the rates from an fp32 SVD, ours from an exact float64 one of the same fp32 W:
      // the README measures ~3e-5 between them; 1e-4 of the largest rate bounds every entry.
      const scale = Math.max(...ref.change_rate);
      ref.change_rate.forEach((r, i) => expect(Math.abs((info?.dashRates?.[i] as number) - r)).toBeLessThanOrEqual(1e-4 * scale));
      // U_s matches the reference dash_U up to the sign of each direction.
      const Uref = factor(name, 'dash_U');
      const dash = dashOf(model, name);
      if (dash === undefined || !dash.launched) throw new Error('not launched');
      for (let j = 0; j < 4; j++) {
        let dotp = 0;
        for (let o = 0; o < Uref.rows; o++) dotp += (Uref.data[o * 4 + j] as number) * (dash.U.data[o * 4 + j] as number);
        expect(Math.abs(Math.abs(dotp) - 1)).toBeLessThanOrEqual(1e-3);
      }
    }
    model.dispose();
    tf.dispose([...real.values()]);
  });
});
