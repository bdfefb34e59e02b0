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
export { causalLmLoss, maskedCrossEntropy, chunkedCausalLmLoss, CHUNKED_LOSS_MIN_ELEMENTS, LOSS_CHUNK_ELEMENTS } from './training/loss.js';
export { tokenBatchLoss, replicaHeadSplit } from './training/batch-loss.js';
export type { LmHeadSplit } from './training/batch-loss.js';
export { BatchSource, chunkTokenStream, tokenizeExamples } from './training/data.js';
export type { TokenBatch, TokenizedExample, TrainingExample } from './training/data.js';
// adapter files (URL, hub id, Blobs/Files, OPFS) and the in-memory ONNX merge and runtime-adapter rewrite
export { loadPeftAdapter, adapterFolderUrl, hubAdapterUrl } from './loaders/peft-adapter-browser.js';
export type { BrowserPeftAdapterOptions } from './loaders/peft-adapter-browser.js';
export { isHubModelId } from './loaders/hub-id.js';
export { patchOnnxModel, toModuleUpdate } from './onnx/patch.js';
export type { AdapterUpdates, ModuleUpdate, OnnxPatchOptions, OnnxPatchResult, PatchedModule, QuantizedMergeMode } from './onnx/patch.js';
export { mergeAdapterIntoOnnx, memoryExternalDataReader } from './onnx/merge-in-memory.js';
export type { MergeAdapterIntoOnnxOptions, MergedOnnxModel } from './onnx/merge-in-memory.js';
export { parseOnnxModel } from './onnx/onnx-model.js';
export { rewriteForRuntimeAdapters, parseRuntimeAdapterManifest, runtimeAdapterInputNames, allLinearModules } from './onnx/runtime-adapters.js';
export type { RuntimeAdapterManifest, RuntimeAdapterRewrite, RuntimeAdapterSlot } from './onnx/runtime-adapters.js';
export { createAdapterSwitcher } from './onnx/adapter-switcher.js';
export type { AdapterSwitcher, AdapterSwitcherOptions, RunnableSession, SessionHost, TensorFactory } from './onnx/adapter-switcher.js';
export { adapterPipeline } from './pipeline/adapter-pipeline-browser.js';
export type { AdapterControls, AdapterPipeline, AdapterPipelineOptions, AdapterSource } from './pipeline/adapter-pipeline.js';
export { BaseModelMismatchError, RankPatternError, TargetModuleMissingError } from './onnx/adapter-errors.js';
