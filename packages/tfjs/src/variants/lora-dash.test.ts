import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  changeRates,
  createPeftAdapter,
  dashDelta,
  parseSafetensors,
  selectTaskSpecificDirections,
  svd,
  tensorToFloat32,
  type LoraFactors,
} from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectAdapters } from '../adapter-model.js';
import { setupBackend } from '../backend/setup.js';
import { DIM, forward, makeData, makeWeights, trainSgd } from '../test-model.test-helper.js';

let weights: Map<string, tf.Tensor>;
let data: ReturnType<typeof makeData>;

beforeAll(async () => {
  await setupBackend('wasm');
  weights = makeWeights();
  data = makeData();
});
afterAll(() => tf.dispose([...weights.values(), data.x, data.target]));

const T = 4;
const S = 3;
const inject = () => injectAdapters(weights, { method: 'lora-dash', r: 2, alpha: 4, s: S, t: T, seed: 9, targetModules: ['up', 'down'] });

describe('LoRA-Dash launch', () => {
  it('launches after exactly t optimizer steps, with d = 0 leaving the function unchanged', () => {
    const model = inject();
    trainSgd(model, data, T - 1);
    expect(model.tsdSelections().size).toBe(0);
    expect([...model.trainableVariables().keys()].some((k) => k.endsWith('dash_d'))).toBe(false);
    const before = forward(model, data.x);
    model.afterOptimizerStep(T);
    expect(model.tsdSelections().size).toBe(4);
    const dNames = [...model.trainableVariables().keys()].filter((k) => k.endsWith('.dash_d'));
    expect(dNames).toEqual(['layers.0.down.dash_d', 'layers.0.up.dash_d', 'layers.1.down.dash_d', 'layers.1.up.dash_d']);
    for (const n of dNames) expect(Array.from(model.trainableVariables().get(n)?.dataSync() ?? [])).toEqual([0, 0, 0]);
    const after = forward(model, data.x);
    expect(after.dataSync()).toEqual(before.dataSync()); // adding ((x·V) ⊙ 0)·Uᵀ is exact
    tf.dispose([before, after]);
    model.dispose();
  });

  it("selects exactly core's top-s change-rate directions of the current scaling·B·A", () => {
    const model = inject();
    trainSgd(model, data, T - 1);
    const expected = new Map<string, { idx: Int32Array; rates: Float64Array }>();
    for (const name of model.targetModules) {
      const A = model.trainableVariables().get(`${name}.lora_A.weight`) as tf.Variable;
      const B = model.trainableVariables().get(`${name}.lora_B.weight`) as tf.Variable;
      const W = weights.get(`${name}.weight`) as tf.Tensor2D;
      const factors: LoraFactors = {
        A: { rows: A.shape[0] as number, cols: A.shape[1] as number, data: Float32Array.from(A.dataSync()) },
        B: { rows: B.shape[0] as number, cols: B.shape[1] as number, data: Float32Array.from(B.dataSync()) },
        scaling: 2,
      };
      // An independent exact SVD (no cache) of the original W.
      const rates = changeRates(svd({ rows: W.shape[0], cols: W.shape[1], data: Float32Array.from(W.dataSync()) }), factors);
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
    trainSgd(model, data, T + 5);
    const name = 'layers.0.up';
    const d = model.trainableVariables().get(`${name}.dash_d`) as tf.Variable;
    const dValues = Float32Array.from(d.dataSync());
    expect(dValues.some((v) => Math.abs(v) > 1e-4)).toBe(true);
    const dash = model.toNativeAdapter().modules.get(name)?.dash;
    if (dash === undefined || !dash.launched) throw new Error('expected a launched dash state');
    const x = data.x;
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
    trainSgd(model, data, T + 3);
    const reference = forward(model, data.x);
    const cp = model.checkpointState();
    const values = new Map([...model.trainableVariables()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
    const fresh = inject();
    fresh.restoreCheckpointState(cp);
    expect(fresh.steps).toBe(T + 3);
    // what the trainer does next: restore variable values by name (d now exists again)
    expect([...fresh.trainableVariables().keys()]).toEqual([...model.trainableVariables().keys()]);
    for (const [k, v] of fresh.trainableVariables()) v.assign(tf.tensor(values.get(k) as Float32Array, v.shape));
    const resumed = forward(fresh, data.x);
    expect(resumed.dataSync()).toEqual(reference.dataSync());
    const viaNative = inject();
    viaNative.loadNativeAdapter(model.toNativeAdapter());
    const loaded = forward(viaNative, data.x);
    expect(loaded.dataSync()).toEqual(reference.dataSync());
    tf.dispose([reference, resumed, loaded]);
    [model, fresh, viaNative].forEach((m) => m.dispose());
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
    const modules = new Map<string, LoraFactors>(
      model.targetModules.map((m) => [m, { A: factor(m, 'lora_A.weight'), B: factor(m, 'lora_B.weight'), scaling: 2 }]),
    );
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
      const dash = model.toNativeAdapter().modules.get(name)?.dash;
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
