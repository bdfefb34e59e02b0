import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  createPeftAdapter,
  loraScaling,
  parseNativeAdapter,
  serializeNativeAdapter,
  ShapeError,
  tensorToFloat32,
  type LoraFactors,
  type ModuleRecord,
  type StateTensor,
} from '@tsd-peft/core';
import { readPeftAdapterFolder, readSafetensorsFile } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectPeftAdapter } from './adapter-io.js';
import { injectAdapters } from './adapter-model.js';
import { forward, maxDiff, trainSgd, useTestModel } from './test-model.test-helper.js';

const toy = useTestModel();
let real: Map<string, tf.Tensor>;

beforeAll(() => {
  real = new Map();
  const file = readSafetensorsFile(fixturePath('reference', 'hf', 'stories260K', 'model.safetensors'));
  for (const [name, t] of file.tensors) real.set(name, tf.tensor(tensorToFloat32(t, name), t.shape));
});
afterAll(() => tf.dispose([...real.values()]));

describe('PEFT adapters trained in Python', () => {
  for (const dir of ['peft-lora', 'peft-rslora']) {
    it(`${dir}: loads PEFT's exact tensors and scaling onto stories260K and applies x·(W + scaling·B·A)ᵀ`, () => {
      const adapter = readPeftAdapterFolder(fixturePath('reference', dir));
      const model = injectPeftAdapter(real, adapter);
      expect(model.targetModules.length).toBe(35);
      expect(model.config.method).toBe(dir === 'peft-rslora' ? 'rslora' : 'lora');
      const name = 'model.layers.2.mlp.down_proj';
      const f = adapter.modules.get(name) as LoraFactors;
      expect(model.config.scaling).toBe(loraScaling(adapter.config, name));
      expect(model.trainableVariables().get(`${name}.lora_A.weight`)?.dataSync()).toEqual(f.A.data);
      expect(model.trainableVariables().get(`${name}.lora_B.weight`)?.dataSync()).toEqual(f.B.data);
      // One projection against a float64 reference: x [3, 172] of O(1) values, |W + ΔW| entries O(1):
      // fp32 sums of 172 products carry ~1e-5 error; 1e-4 is the margin.
      const W = real.get(`${name}.weight`) as tf.Tensor2D;
      const [out, inDim] = W.shape;
      const x = tf.randomUniform([3, inDim], -1, 1, 'float32', 3) as tf.Tensor2D;
      const y = model.linear(name, x).dataSync();
      const xs = x.dataSync();
      const w = W.dataSync();
      let worst = 0;
      for (let n = 0; n < 3; n++) {
        for (let o = 0; o < out; o++) {
          let acc = 0;
          for (let i = 0; i < inDim; i++) {
            let dw = 0;
            for (let j = 0; j < f.A.rows; j++) dw += (f.B.data[o * f.A.rows + j] as number) * (f.A.data[j * inDim + i] as number);
            acc += (xs[n * inDim + i] as number) * ((w[o * inDim + i] as number) + model.config.scaling * dw);
          }
          worst = Math.max(worst, Math.abs(acc - (y[n * out + o] as number)));
        }
      }
      expect(worst).toBeLessThanOrEqual(1e-4);
      // Exporting gives the same factors back, module for module.
      const back = model.toPeftAdapter();
      for (const [m, g] of adapter.modules) {
        expect(back.modules.get(m)?.A.data).toEqual(g.A.data);
        expect(back.modules.get(m)?.B.data).toEqual(g.B.data);
        expect(loraScaling(back.config, m)).toBeCloseTo(loraScaling(adapter.config, m), 12);
      }
      x.dispose();
      model.dispose();
    });
  }

  it('refuses to load a PEFT adapter into residual methods or onto modules the model does not adapt', () => {
    const pissa = injectAdapters(toy.weights, { method: 'pissa', r: 2, targetModules: ['up'] });
    const lora = injectAdapters(toy.weights, { method: 'lora', r: 2, targetModules: ['up'] });
    const exported = lora.toPeftAdapter();
    expect(() => pissa.loadPeftAdapter(exported)).toThrow(/residual weight/);
    const downOnly = injectAdapters(toy.weights, { method: 'lora', r: 2, targetModules: ['down'] });
    expect(() => downOnly.loadPeftAdapter(exported)).toThrow(ConfigError);
    expect(() => downOnly.loadPeftAdapter(exported)).toThrow(/adapted: layers\.0\.down, layers\.1\.down/);
    [pissa, lora, downOnly].forEach((m) => m.dispose());
  });

  it('takes per-module ranks (rank_pattern) different from the model r', () => {
    const trained = injectAdapters(toy.weights, { method: 'lora-dash', r: 2, alpha: 4, s: 2, t: 2, targetModules: ['up'] });
    trainSgd(trained, toy.data, 5);
    const peft = trained.toPeftAdapter(); // rank r + s = 4 with scaling 1
    expect(peft.modules.get('layers.0.up')?.A.rows).toBe(4);
    const reloaded = injectAdapters(toy.weights, { method: 'lora', r: 2, alpha: 4, targetModules: ['up'] });
    reloaded.loadPeftAdapter(createPeftAdapter(peft.modules, { r: 4, lora_alpha: 4, target_modules: ['up'] }));
    const a = forward(trained, toy.data.x);
    const b = forward(reloaded, toy.data.x);
    expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-5);
    tf.dispose([a, b]);
    trained.dispose();
    reloaded.dispose();
  });
});

describe('native adapters', () => {
  for (const method of ['lora', 'pissa', 'lora-dash', 'lora-tsd'] as const) {
    it(`${method}: survives serialisation and reload bit for bit`, () => {
      const config = { method, r: 2, alpha: 4, s: 2, t: 2, initSteps: 2, targetModules: ['up', 'down'] };
      const model = injectAdapters(toy.weights, config);
      trainSgd(model, toy.data, 6);
      const reference = forward(model, toy.data.x);
      const bytes = serializeNativeAdapter(model.toNativeAdapter({ baseModel: 'synthetic', extra: { step: 6 } }));
      const parsed = parseNativeAdapter(bytes, 'adapter.safetensors');
      expect(parsed.baseModel).toBe('synthetic');
      const fresh = injectAdapters(toy.weights, { ...config, seed: 99 });
      fresh.loadNativeAdapter(parsed);
      const again = forward(fresh, toy.data.x);
      expect(again.dataSync()).toEqual(reference.dataSync());
      tf.dispose([reference, again]);
      model.dispose();
      fresh.dispose();
    });
  }

  it('refuses mismatched module sets or methods, and full fine-tuning', () => {
    const lora = injectAdapters(toy.weights, { method: 'lora', r: 2, targetModules: ['up'] });
    const dash = injectAdapters(toy.weights, { method: 'lora-dash', r: 2, targetModules: ['up'] });
    const wide = injectAdapters(toy.weights, { method: 'lora', r: 2, targetModules: ['up', 'down'] });
    expect(() => dash.loadNativeAdapter(lora.toNativeAdapter())).toThrow(/method 'lora' but the module uses 'lora-dash'/);
    expect(() => wide.loadNativeAdapter(lora.toNativeAdapter())).toThrow(/missing: layers\.0\.down, layers\.1\.down/);
    const full = injectAdapters(toy.weights, { method: 'full', targetModules: ['up'] });
    expect(() => full.toNativeAdapter()).toThrow(/mergeAndUnload/);
    expect([...full.trainableVariables().keys()]).toEqual(['layers.0.up.weight', 'layers.1.up.weight']);
    [lora, dash, wide, full].forEach((m) => m.dispose());
  });

  it('a record that does not fit the module is refused by its variant, naming the tensor, before the module changes', () => {
    const config = { method: 'lora-dash' as const, r: 2, alpha: 4, s: 2, t: 2, targetModules: ['up'] };
    const model = injectAdapters(toy.weights, config);
    trainSgd(model, toy.data, 3);
    const adapter = model.toNativeAdapter();
    const name = 'layers.0.up';
    const record = adapter.modules.get(name) as ModuleRecord;
    const U = record.tensors.dash_U as StateTensor;
    const [rows, cols] = U.shape as [number, number];
    const bad = { ...record, tensors: { ...record.tensors, dash_U: { shape: [rows - 1, cols], data: U.data.subarray(0, (rows - 1) * cols) } } };
    const fresh = injectAdapters(toy.weights, { ...config, seed: 99 });
    const before = fresh.trainableVariables().get(`${name}.lora_A.weight`)?.dataSync().slice();
    const err = (() => {
      try {
        fresh.loadNativeAdapter({ modules: new Map([...adapter.modules, [name, bad]]) });
      } catch (e) {
        return e as ShapeError;
      }
    })();
    expect(err).toBeInstanceOf(ShapeError);
    expect(err?.tensor).toBe(`base_model.model.${name}.dash_U`);
    expect(fresh.trainableVariables().get(`${name}.lora_A.weight`)?.dataSync()).toEqual(before);
    model.dispose();
    fresh.dispose();
  });

  it('a file refused at its last module leaves every earlier module as it was (all or nothing)', () => {
    const config = { method: 'lora-dash' as const, r: 2, alpha: 4, s: 2, t: 2, targetModules: ['up', 'down'] };
    const model = injectAdapters(toy.weights, config);
    trainSgd(model, toy.data, 3);
    const adapter = model.toNativeAdapter();
    const names = [...adapter.modules.keys()];
    const last = names.at(-1) as string;
    expect(names.length).toBeGreaterThan(1);
    const record = adapter.modules.get(last) as ModuleRecord;
    const U = record.tensors.dash_U as StateTensor;
    const bad = { ...record, tensors: { ...record.tensors, dash_U: { shape: [1, 1], data: U.data.subarray(0, 1) } } };
    const fresh = injectAdapters(toy.weights, { ...config, seed: 99 });
    const before = forward(fresh, toy.data.x);
    const recordsBefore = [...fresh.toNativeAdapter().modules.values()];
    expect(() => fresh.loadNativeAdapter({ modules: new Map([...adapter.modules, [last, bad]]) })).toThrow(ShapeError);
    expect(maxDiff(forward(fresh, toy.data.x), before)).toBe(0);
    expect([...fresh.toNativeAdapter().modules.values()]).toEqual(recordsBefore);
    model.dispose();
    fresh.dispose();
  });
});
