// @tsd-peft/tfjs/layers: LoRA-family adapters for tf.LayersModel (needs @tensorflow/tfjs-layers).
export { applyAdapters } from './apply-adapters.js';
export type { ApplyAdaptersOptions, AppliedAdapters, EstimateData } from './apply-adapters.js';
export { AdapterDense } from './adapter-dense.js';
export { AdapterEmbedding } from './adapter-embedding.js';
export { registerAdapterLayers } from './register.js';
export type { AdapterDenseArgs, AdapterDenseParts, AdapterLayerState, LayerAdapterMethod } from './adapter-dense.js';
export { AdapterStepCallback, adapterCallback, adapterLayers, stepAdapters } from './step-callback.js';
export { mergeAndUnload } from './merge-and-unload.js';
export { toPeftAdapter } from './peft-export.js';
export type { LayersPeftExportOptions } from './peft-export.js';
export { NotDenseLayerError, AdapterRankError, LaunchCallbackMissingError } from './errors.js';
export type { TargetLayers } from './target-layers.js';
