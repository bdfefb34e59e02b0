import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { AdapterDense, applyAdapters, mergeAndUnload, type LayerAdapterMethod } from './index.js';
import { adapterLayers } from './step-callback.js';
import { denseModel, lossOf, maxDiff, memoryRoundTrip, teacherBatch, useBackendBatch } from './layers-model.test-helper.js';

/*
 * Tolerances. Outputs are softmax probabilities, O(1). At init the adapted
 * model computes x·K + 0 (LoRA-style, B = 0) or x·W′ + scaling·(x·A₀)·B₀
 * with W′ = W − scaling·B₀A₀ rounded to float32 (SVD inits): a few fp32 ulps
 * per product → 1e-5. Save → load reproduces the same weights and ops, so
 * outputs agree to 1e-7. Merged vs unmerged: the 1e-5 — a wrong sign,
 * scaling or missing dash term after training shows as ≥ 1e-3.
 */
const INIT_TOL = 1e-5;
const MERGE_TOL = 1e-5;
const METHODS: LayerAdapterMethod[] = ['lora', 'rslora', 'pissa', 'milora', 'lora-dash', 'lora-init', 'lora-tsd'];

describe.each(['cpu', 'wasm'] as const)('applyAdapters on %s', (backend) => {
  const batch = useBackendBatch(backend, teacherBatch);

  it.each(METHODS)('%s: same outputs at init, fit lowers the loss, save → load, merge ≈ unmerged', async (method) => {
    const data = batch();
    const base = denseModel();
    const before = base.predict(data.x) as tf.Tensor;
    const { model, callback, adapted } = await applyAdapters(base, {
      method,
      targetLayers: ['hidden', 'mid'],
      r: 2,
      alpha: 4,
      s: 2,
      t: 3,
      seed: 7,
      estimate: { x: data.x, y: data.y, loss: tfl.metrics.categoricalCrossentropy },
    });
    expect(adapted).toEqual(['hidden', 'mid']);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['TsdAdapterDense', 'TsdAdapterDense', 'Dense']);
    // Only A, B (and d) train; kernels, biases and the untouched head are frozen.
    const trainable = model.trainableWeights.map((w) => w.originalName.split('/').pop());
    const dash = method === 'lora-dash' || method === 'lora-tsd';
    expect(trainable).toEqual(dash ? ['lora_a', 'lora_b', 'dash_d', 'lora_a', 'lora_b', 'dash_d'] : ['lora_a', 'lora_b', 'lora_a', 'lora_b']);

    const atInit = model.predict(data.x) as tf.Tensor;
    expect(maxDiff(before, atInit)).toBeLessThan(INIT_TOL);

    model.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
    const lossBefore = lossOf(model, data.x, data.y);
    await model.fit(data.x, data.y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: [callback] });
    const lossAfter = lossOf(model, data.x, data.y);
    expect(lossAfter).toBeLessThan(lossBefore * 0.95);
    const layers = adapterLayers(model);
    for (const layer of layers) {
      expect(layer.adapter.steps).toBe(12); // 48 rows / batch 8 × 2 epochs: batches, not epochs
      expect(layer.adapter.launched).toBe(dash);
      if (dash) expect(layer.adapter.dashSelected).toHaveLength(2);
    }

    const trained = model.predict(data.x) as tf.Tensor;
    const loaded = await memoryRoundTrip(model);
    expect(loaded.layers[0]).toBeInstanceOf(AdapterDense);
    expect((loaded.layers[0] as AdapterDense).adapter).toEqual(layers[0]?.adapter);
    const reloaded = loaded.predict(data.x) as tf.Tensor;
    expect(maxDiff(trained, reloaded)).toBeLessThan(1e-7);

    const merged = await mergeAndUnload(model);
    expect(merged.layers.map((l) => l.getClassName())).toEqual(['Dense', 'Dense', 'Dense']);
    expect(merged.countParams()).toBe(base.countParams());
    // Only stock Keras classes in the merged topology, so it loads without this package.
    expect(JSON.stringify(merged.toJSON(undefined, false))).not.toContain('Tsd');
    const mergedLoaded = await memoryRoundTrip(merged);
    const mergedOut = mergedLoaded.predict(data.x) as tf.Tensor;
    const diff = maxDiff(trained, mergedOut);
    expect(diff).toBeLessThan(MERGE_TOL);
    // The adapters moved the outputs far more than the merge error, so the check has teeth.
    expect(maxDiff(before, trained)).toBeGreaterThan(100 * MERGE_TOL);

    tf.dispose([before, atInit, trained, reloaded, mergedOut]);
    for (const m of [base, model, loaded, merged, mergedLoaded]) m.dispose();
  });
});
