import { Callback, type LayersModel } from '@tensorflow/tfjs-layers';
import { AdapterDense } from './adapter-dense.js';

/** The {@link AdapterDense} layers among a model's top-level layers, in model order. */
export function adapterLayers(model: LayersModel): AdapterDense[] {
  return model.layers.filter((l): l is AdapterDense => l instanceof AdapterDense);
}

/**
 * Counts one completed optimizer step on every adapter layer of `model` and
 * launches LoRA-Dash terms that are due. The step count lives in the layers
 * (and in their saved config), so it carries across `fit` calls and across
 * save / load. Call it after each step of a custom loop (`trainOnBatch`,
 * `optimizer.minimize`); `model.fit` does it through {@link AdapterStepCallback}.
 */
export async function stepAdapters(model: LayersModel): Promise<void> {
  for (const layer of adapterLayers(model)) await layer.step();
}

/**
 * The `model.fit` callback of LoRA-Dash / LoRA-TSD: one {@link stepAdapters}
 * per batch (each batch is one optimizer step), never per epoch. Stateless,
 * so one instance serves any number of `fit` calls and models.
 */
export class AdapterStepCallback extends Callback {
  override async onBatchEnd(): Promise<void> {
    await stepAdapters(this.model);
  }
}

/** A new {@link AdapterStepCallback}, e.g. for a model loaded with `tf.loadLayersModel`. */
export function adapterCallback(): AdapterStepCallback {
  return new AdapterStepCallback();
}
