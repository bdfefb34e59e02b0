import type * as tf from '@tensorflow/tfjs-core';
import { models, type LayersModel } from '@tensorflow/tfjs-layers';
import { ConfigError } from '@tsd-peft/core';

/** One entry of `config.layers` in a model.json topology (Keras's Python-side naming). */
export interface TopologyLayer {
  class_name: string;
  config: tf.serialization.ConfigDict;
  [key: string]: unknown;
}

/**
 * Rebuilds `model` from its own topology with some layer entries replaced:
 * `replace` gets each top-level entry and returns a new one or null to keep
 * it. The result is a new model with freshly initialised weights (the
 * caller copies them); `model` is not touched. Works for `tf.sequential`,
 * `tf.model` and loaded models alike, since all three serialise their
 * top-level layers under `config.layers`.
 */
export async function rebuildModel(model: LayersModel, replace: (entry: TopologyLayer) => TopologyLayer | null): Promise<LayersModel> {
  const topology = model.toJSON(undefined, false) as tf.serialization.ConfigDict;
  const config = topology['config'] as tf.serialization.ConfigDict | undefined;
  const entries = config?.['layers'];
  if (config === undefined || !Array.isArray(entries)) {
    throw new ConfigError(`model ${model.name} has no layer list in its topology (class ${String(topology['class_name'])})`, { layer: model.name });
  }
  const layers = (entries as unknown as TopologyLayer[]).map((entry) => replace(entry) ?? entry);
  const rebuilt = { ...topology, config: { ...config, layers } } as unknown as tf.serialization.ConfigDict;
  return models.modelFromJSON({ modelTopology: rebuilt });
}

/** Copies the weights of every layer of `from` that `skip` rejects into the same-named layer of `to`. */
export function copyLayerWeights(from: LayersModel, to: LayersModel, skip: ReadonlySet<string>): void {
  for (const layer of from.layers) {
    if (skip.has(layer.name)) continue;
    const weights = layer.getWeights();
    if (weights.length > 0) to.getLayer(layer.name).setWeights(weights);
  }
}
