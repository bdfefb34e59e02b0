import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError, changeRates, dashBasis, loraDelta, mergeLora, parsePeftAdapter, selectTaskSpecificDirections, serializePeftAdapter, svd } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../backend/setup.js';
import {
  AdapterDense,
  AdapterRankError,
  LaunchCallbackMissingError,
  NotDenseLayerError,
  adapterCallback,
  applyAdapters,
  mergeAndUnload,
  stepAdapters,
  toPeftAdapter,
  type ApplyAdaptersOptions,
} from './index.js';
import { adapterLayers } from './step-callback.js';
import { transposed32 } from './keras-layout.js';
import { denseModel, fileHandler, maxDiff, memoryRoundTrip, teacherBatch } from './layers-model.test-helper.js';

const dashOptions = { method: 'lora-dash', targetLayers: ['hidden', 'mid'], r: 2, alpha: 4, s: 3, seed: 3 } as const;

async function trainedDash(t: number, batches: number, data: { x: tf.Tensor2D; y: tf.Tensor2D }) {
  const base = denseModel();
  const applied = await applyAdapters(base, { ...dashOptions, t });
  applied.model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
  const x = data.x.slice(0, batches * 8);
  const y = data.y.slice(0, batches * 8);
  await applied.model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: [applied.callback] });
  tf.dispose([x, y]);
  return { base, ...applied };
}

describe('LoRA-Dash in a LayersModel (cpu)', () => {
  let data: { x: tf.Tensor2D; y: tf.Tensor2D };
  beforeAll(async () => {
    await setupBackend('cpu');
    data = teacherBatch();
  });
  afterAll(() => tf.dispose([data.x, data.y]));

  it('launches on the directions core selects for the same ΔW', async () => {
    // 3 batches with t = 3: the launch runs at the end of the last one, so A and B are still what it saw.
    const { base, model } = await trainedDash(3, 3, data);
    for (const layer of adapterLayers(model)) {
      const state = layer.adapter;
      expect(state.launched).toBe(true);
      const parts = await layer.parts();
      const ref = svd(parts.frozen);
      const factored = changeRates(ref, parts.factors);
      const dense = changeRates(ref, loraDelta(parts.factors));
      const selected = selectTaskSpecificDirections(factored, 3);
      expect(state.dashSelected).toEqual([...selected]);
      expect([...selectTaskSpecificDirections(dense, 3)]).toEqual([...selected]);
      // The chosen directions are those with the largest change rate, largest first.
      const sorted = [...factored.rates].sort((a, b) => b - a).slice(0, 3);
      expect(state.dashSelected.map((i) => factored.rates[i])).toEqual(sorted);
      state.dashRates.forEach((rate, i) => expect(rate).toBeCloseTo(factored.rates[i] as number, 10));
      const basis = dashBasis(ref, selected);
      expect(maxDiff(tf.tensor(parts.dash?.U.data ?? []), tf.tensor(basis.U.data))).toBe(0);
      expect(maxDiff(tf.tensor(parts.dash?.Vt.data ?? []), tf.tensor(basis.Vt.data))).toBe(0);
      expect([...(parts.dash?.d ?? [])]).toEqual([0, 0, 0]);
    }
    base.dispose();
    model.dispose();
  });

  it('counts batches across fit calls and save / load, not epochs', async () => {
    const { base, model, callback } = await trainedDash(5, 3, data);
    const [first] = adapterLayers(model);
    expect(first?.adapter).toMatchObject({ steps: 3, launched: false });
    // Saved before the launch, loaded, and trained on: the count resumes at 3 and launches at 5.
    const dir = mkdtempSync(join(tmpdir(), 'tsd-layers-'));
    try {
      await model.save(fileHandler(dir));
      const loaded = await tfl.loadLayersModel(fileHandler(dir));
      loaded.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
      const x = data.x.slice(0, 16);
      const y = data.y.slice(0, 16);
      await loaded.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [adapterCallback()] });
      expect(adapterLayers(loaded)[0]?.adapter).toMatchObject({ steps: 5, launched: true });
      // The original keeps counting with its own callback over two more fits.
      await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [callback] });
      expect(first?.adapter).toMatchObject({ steps: 5, launched: true });
      await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, callbacks: [callback] });
      expect(first?.adapter.steps).toBe(7);
      // Launched state, selections and d survive the file round trip.
      await model.save(fileHandler(dir));
      const again = await tfl.loadLayersModel(fileHandler(dir));
      expect(adapterLayers(again).map((l) => l.adapter)).toEqual(adapterLayers(model).map((l) => l.adapter));
      const d = (await adapterLayers(model)[0]?.parts())?.dash?.d;
      expect(d?.some((v) => v !== 0)).toBe(true);
      expect([...((await adapterLayers(again)[0]?.parts())?.dash?.d ?? [])]).toEqual([...(d ?? [])]);
      const a = model.predict(data.x) as tf.Tensor;
      const b = again.predict(data.x) as tf.Tensor;
      expect(maxDiff(a, b)).toBeLessThan(1e-7);
      tf.dispose([x, y, a, b]);
      for (const m of [loaded, again]) m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    base.dispose();
    model.dispose();
  });

  it('keeps a +∞ change rate (a direction the rank-deficient kernel lacks) through save / load', async () => {
    const base = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [4], name: 'low', useBias: false })] });
    // Rank 1: σ₂…σ₄ = 0, so any update reaching those directions has an infinite change rate.
    base.getLayer('low').setWeights([tf.outerProduct(tf.tensor1d([1, 2, 0, 1]), tf.tensor1d([0.5, -1, 1, 2]))]);
    const { model, callback } = await applyAdapters(base, { method: 'lora-dash', targetLayers: ['low'], r: 2, s: 4, t: 1, seed: 2 });
    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 21);
    const y = tf.randomNormal([8, 4], 0, 1, 'float32', 22);
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [callback] });
    const state = adapterLayers(model)[0]?.adapter;
    expect(state?.dashRates).toContain(Number.POSITIVE_INFINITY);
    // Through a file: the memory handler keeps the object and would never see JSON's null.
    const dir = mkdtempSync(join(tmpdir(), 'tsd-layers-'));
    try {
      await model.save(fileHandler(dir));
      const loaded = await tfl.loadLayersModel(fileHandler(dir));
      expect(adapterLayers(loaded)[0]?.adapter).toEqual(state);
      loaded.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    tf.dispose([x, y]);
    for (const m of [base, model]) m.dispose();
  });

  it('refuses to train LoRA-Dash without the step callback, and a custom loop can step it', async () => {
    const base = denseModel();
    const { model } = await applyAdapters(base, { ...dashOptions, t: 2 });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    await expect(model.fit(data.x, data.y, { epochs: 1, batchSize: 8, verbose: 0 })).rejects.toThrow(LaunchCallbackMissingError);
    const fresh = await applyAdapters(base, { ...dashOptions, t: 2 });
    fresh.model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    for (let i = 0; i < 3; i++) {
      await fresh.model.trainOnBatch(data.x, data.y);
      await stepAdapters(fresh.model);
    }
    expect(adapterLayers(fresh.model)[0]?.adapter).toMatchObject({ steps: 3, launched: true });
    // Plain LoRA has no launch, so fit needs no callback.
    const lora = await applyAdapters(base, { ...dashOptions, method: 'lora' });
    lora.model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    await lora.model.fit(data.x, data.y, { epochs: 1, batchSize: 8, verbose: 0 });
    for (const m of [base, model, fresh.model, lora.model]) m.dispose();
  });

  it('exports a PEFT adapter keyed by layer name that reproduces the merged kernels', async () => {
    const { base, model, callback } = await trainedDash(3, 3, data);
    await model.fit(data.x, data.y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [callback] });
    const adapter = await toPeftAdapter(model, { baseModel: 'toy' });
    const { configJson, weights } = serializePeftAdapter(adapter);
    const parsed = parsePeftAdapter(configJson, weights);
    expect([...parsed.modules.keys()]).toEqual(['hidden', 'mid']);
    expect(parsed.config.base_model_name_or_path).toBe('toy');
    const merged = await mergeAndUnload(model);
    for (const name of ['hidden', 'mid']) {
      const factors = parsed.modules.get(name);
      expect(factors?.A.rows).toBe(2 + 3); // r + s: LoRA-Dash folded into one plain LoRA
      const kernel = base.getLayer(name).getWeights()[0] as tf.Tensor2D;
      const [inDim, outDim] = kernel.shape;
      const W = transposed32({ rows: inDim, cols: outDim, data: kernel.dataSync() as Float32Array });
      const expected = transposed32(mergeLora(W, factors as NonNullable<typeof factors>));
      const actual = merged.getLayer(name).getWeights()[0] as tf.Tensor;
      expect(maxDiff(tf.tensor(expected.data, [inDim, outDim]), actual)).toBeLessThan(1e-5);
    }
    for (const m of [base, model, merged]) m.dispose();
  });

  it('validates every target before building, with typed errors, and never touches the input model', async () => {
    const base = denseModel();
    const before = base.getWeights().map((w) => w.dataSync().slice());
    await expect(applyAdapters(base, { ...dashOptions, targetLayers: ['hidden', 'out'], r: 4, s: 1 })).rejects.toThrow(AdapterRankError);
    await expect(applyAdapters(base, { ...dashOptions, targetLayers: ['hidden', 'out'], r: 4, s: 1 })).rejects.toThrow(/\(layer (hidden|out), shape/);
    await expect(applyAdapters(base, { ...dashOptions, r: 7 })).rejects.toThrow(/rank r = 7 exceeds min\(in, out\) = 6.*layer hidden/);
    await expect(applyAdapters(base, { ...dashOptions, s: 7 })).rejects.toThrow(/s = 7 exceeds min\(in, out\) = 6/);
    await expect(applyAdapters(base, { ...dashOptions, targetLayers: ['hiddn'] })).rejects.toThrow(/no layer called 'hiddn'; layers: hidden \(Dense\)/);
    await expect(applyAdapters(base, { ...dashOptions, method: 'lora-init' })).rejects.toThrow(ConfigError);
    await expect(applyAdapters(base, { ...dashOptions, targetLayers: /nothing/ })).rejects.toThrow(/selected no layer/);
    await expect(applyAdapters(base, { ...dashOptions, r: 0 })).rejects.toThrow(/r must be a positive integer/);
    // A dense method (full fine-tuning) has no adapter; DoRA has no Dense-layer form.
    const method = (name: string) => name as ApplyAdaptersOptions['method'];
    await expect(applyAdapters(base, { ...dashOptions, method: method('full') })).rejects.toThrow(/method 'full' trains the weights themselves/);
    await expect(applyAdapters(base, { ...dashOptions, method: method('dora') })).rejects.toThrow(/method 'dora' has no Keras layer form/);
    const input = tfl.input({ shape: [4] });
    const hidden = tfl.layers.dense({ units: 8, name: 'proj' }).apply(input) as tfl.SymbolicTensor;
    const dropped = tfl.layers.dropout({ rate: 0.1, name: 'drop' }).apply(hidden) as tfl.SymbolicTensor;
    const functional = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, name: 'head' }).apply(dropped) as tfl.SymbolicTensor });
    await expect(applyAdapters(functional, { method: 'lora', targetLayers: (l) => l.name !== 'input1', r: 1 })).rejects.toThrow(NotDenseLayerError);
    expect(base.layers.map((l) => l.getClassName())).toEqual(['Dense', 'Dense', 'Dense']);
    base.getWeights().forEach((w, i) => expect(w.dataSync()).toEqual(before[i]));

    // A functional model with a Dropout between the Dense layers adapts by RegExp and round-trips.
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 4);
    const y0 = functional.predict(x) as tf.Tensor;
    const { model } = await applyAdapters(functional, { method: 'pissa', targetLayers: /^(proj|head)$/, r: 2 });
    expect(model.getLayer('proj')).toBeInstanceOf(AdapterDense);
    const y1 = model.predict(x) as tf.Tensor;
    expect(maxDiff(y0, y1)).toBeLessThan(1e-5);
    const loaded = await memoryRoundTrip(model);
    const y2 = loaded.predict(x) as tf.Tensor;
    expect(maxDiff(y1, y2)).toBeLessThan(1e-7);
    // A model that itself came from tf.loadLayersModel adapts the same way.
    const plainLoaded = await memoryRoundTrip(functional);
    const fromLoaded = await applyAdapters(plainLoaded, { method: 'lora', targetLayers: ['proj'], r: 2 });
    const y3 = fromLoaded.model.predict(x) as tf.Tensor;
    expect(maxDiff(y0, y3)).toBeLessThan(1e-6);
    // A frozen Dense layer still gets trainable adapters.
    functional.getLayer('proj').trainable = false;
    const onFrozen = await applyAdapters(functional, { method: 'lora', targetLayers: ['proj'], r: 2 });
    expect(onFrozen.model.trainableWeights.map((w) => w.originalName)).toEqual(['proj/lora_a', 'proj/lora_b']);
    onFrozen.model.dispose();
    tf.dispose([x, y0, y1, y2, y3]);
    for (const m of [base, functional, model, loaded, plainLoaded, fromLoaded.model]) m.dispose();
  });
});
