import * as tf from '@tensorflow/tfjs-core';
import { AdapterDense } from './adapter-dense.js';
import { AdapterEmbedding } from './adapter-embedding.js';

/** The adapter layer classes by class name, with the stock Keras class each replaces. */
export const ADAPTER_LAYER_CLASSES: Readonly<Record<string, string>> = {
  [AdapterDense.className]: 'Dense',
  [AdapterEmbedding.className]: 'Embedding',
};

/**
 * Registers the adapter layers ({@link AdapterDense}, {@link AdapterEmbedding})
 * with `tf.serialization`, so `tf.loadLayersModel` can rebuild saved adapter
 * models. Importing `@tsd-peft/tfjs/layers` already does it; call it
 * explicitly where a bundler may drop side-effect-only imports (the package
 * is marked `sideEffects: false`). Idempotent.
 */
export function registerAdapterLayers(): void {
  tf.serialization.registerClass(AdapterDense);
  tf.serialization.registerClass(AdapterEmbedding);
}

registerAdapterLayers();
