import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { AdapterEmbedding, applyAdapters, mergeAndUnload, toPeftAdapter, type LayerAdapterMethod } from './index.js';
import { adapterLayers } from './step-callback.js';
import { lossOf, maxDiff, memoryRoundTrip, useBackendBatch, type Batch } from './layers-model.test-helper.js';

const VOCAB = 40;
const LEN = 6;

/** Embedding → mean pooling → Dense → softmax, seeded. */
function embeddingModel(maskZero: boolean): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({ inputDim: VOCAB, outputDim: 8, inputLength: LEN, maskZero, name: 'emb', embeddingsInitializer: tfl.initializers.randomNormal({ seed: 1 }) }),
      tfl.layers.globalAveragePooling1d({}),
      tfl.layers.dense({ units: 6, activation: 'relu', name: 'hidden', kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }),
      tfl.layers.dense({ units: 2, activation: 'softmax', name: 'out', kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) }),
    ],
  });
}

/** Token ids 0..39 (0 = padding); the label says whether low ids (< 20) dominate. */
function tokenBatch(): Batch {
  return tf.tidy(() => {
    const x = tf.randomUniform([64, LEN], 0, VOCAB, 'int32', 9) as tf.Tensor2D;
    const low = tf.sum(tf.cast(tf.less(x, VOCAB / 2), 'float32'), 1);
    const y = tf.oneHot(tf.cast(tf.greater(low, LEN / 2 - 0.5), 'int32'), 2).toFloat() as tf.Tensor2D;
    return { x, y };
  });
}

/* Tolerances as in apply-adapters.test.ts: 1e-5 at init and merged vs unmerged, 1e-7 after save → load. */
describe.each(['cpu', 'wasm'] as const)('Embedding adapters on %s', (backend) => {
  const batch = useBackendBatch(backend, tokenBatch);

  it.each(['lora', 'pissa', 'lora-dash'] as LayerAdapterMethod[])('%s on an Embedding and a Dense layer', async (method) => {
    const data = batch();
    const base = embeddingModel(false);
    const before = base.predict(data.x) as tf.Tensor;
    const { model, callback } = await applyAdapters(base, { method, targetLayers: ['emb', 'hidden'], r: 2, alpha: 4, s: 2, t: 3, seed: 1 });
    expect(model.getLayer('emb')).toBeInstanceOf(AdapterEmbedding);
    const atInit = model.predict(data.x) as tf.Tensor;
    expect(maxDiff(before, atInit)).toBeLessThan(1e-5);

    model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
    const lossBefore = lossOf(model, data.x, data.y);
    await model.fit(data.x, data.y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0, callbacks: [callback] });
    expect(lossOf(model, data.x, data.y)).toBeLessThan(lossBefore * 0.95);
    if (method === 'lora-dash') expect(adapterLayers(model).map((l) => l.adapter.launched)).toEqual([true, true]);

    const trained = model.predict(data.x) as tf.Tensor;
    const loaded = await memoryRoundTrip(model);
    expect(loaded.getLayer('emb')).toBeInstanceOf(AdapterEmbedding);
    const reloaded = loaded.predict(data.x) as tf.Tensor;
    expect(maxDiff(trained, reloaded)).toBeLessThan(1e-7);

    const merged = await mergeAndUnload(model);
    expect(merged.layers.map((l) => l.getClassName())).toEqual(['Embedding', 'GlobalAveragePooling1D', 'Dense', 'Dense']);
    const mergedOut = merged.predict(data.x) as tf.Tensor;
    expect(maxDiff(trained, mergedOut)).toBeLessThan(1e-5);
    expect(maxDiff(before, trained)).toBeGreaterThan(1e-3);
    await expect(toPeftAdapter(model)).rejects.toThrow(ConfigError);

    tf.dispose([before, atInit, trained, reloaded, mergedOut]);
    for (const m of [base, model, loaded, merged]) m.dispose();
  });

  it('keeps the Embedding mask of maskZero', async () => {
    const base = embeddingModel(true);
    const { model } = await applyAdapters(base, { method: 'lora', targetLayers: ['emb'], r: 2 });
    const ids = tf.tensor2d([[0, 3, 0, 5, 7, 0]], [1, LEN], 'int32');
    const stock = base.getLayer('emb').computeMask(ids) as tf.Tensor;
    const ours = model.getLayer('emb').computeMask(ids) as tf.Tensor;
    expect([...ours.dataSync()]).toEqual([...stock.dataSync()]);
    expect([...ours.dataSync()]).toEqual([0, 1, 0, 1, 1, 0]);
    tf.dispose([ids, stock, ours]);
    base.dispose();
    model.dispose();
  });
});
