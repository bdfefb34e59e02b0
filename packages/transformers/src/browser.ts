/**
 * Browser-safe entry point (`@tsd-peft/transformers/browser`): the replicas,
 * weight mapping, loss and batching, without the Node loaders, the hub
 * cache, ONNX file I/O or the CLI that the main entry also holds.
 */
export { architectureFor } from './models/registry.js';
export type { ArchitectureSpec } from './models/registry.js';
export { buildWeightMap } from './loaders/weight-map.js';
export type { StoredTensor } from './loaders/weight-map.js';
export type { CausalLMConfig, CausalLMReplica, CausalLMInputs, WeightMap } from './models/types.js';
export { causalLmLoss, maskedCrossEntropy } from './training/loss.js';
export { BatchSource, chunkTokenStream, tokenizeExamples } from './training/data.js';
export type { TokenBatch, TokenizedExample, TrainingExample } from './training/data.js';
export { adapterPipeline } from './pipeline/adapter-pipeline-browser.js';
export type { AdapterControls, AdapterPipeline, AdapterPipelineOptions, AdapterSource } from './pipeline/adapter-pipeline.js';
export { BaseModelMismatchError, RankPatternError, TargetModuleMissingError } from './onnx/adapter-errors.js';
