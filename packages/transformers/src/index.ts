// --- onnx ---
export {
  exportForTransformersJs,
  resolveAdapterUpdates,
  EXPORT_MANIFEST,
} from './export-transformers-js.js';
export type {
  ExportAdapterSource,
  ExportForTransformersJsOptions,
  ExportForTransformersJsResult,
} from './export-transformers-js.js';
export { readOnnxWeights, readOnnxWeightsFromBytes, readOnnxWeightsFromModel, resolveOnnxModelFile } from './onnx/read-weights.js';
export type { OnnxWeight, ReadOnnxWeightsOptions } from './onnx/read-weights.js';
export { patchOnnxModel, toModuleUpdate } from './onnx/patch.js';
export { mergeAdapterIntoOnnx, memoryExternalDataReader } from './onnx/merge-in-memory.js';
export type { MergeAdapterIntoOnnxOptions, MergedOnnxModel } from './onnx/merge-in-memory.js';
export type { AdapterUpdates, ModuleUpdate, OnnxPatchOptions, OnnxPatchResult, PatchedModule, QuantizedMergeMode } from './onnx/patch.js';
export { quantizeAffine8, dequantizeAffine8, quantizeBlockwise4, dequantizeBlockwise4 } from './onnx/quantize.js';
export type { AffineQuantized, Blockwise4 } from './onnx/quantize.js';
export { locateQuantizedLinear } from './onnx/quantized-linear.js';
export type { QuantizedLinear, Int8Linear, NBitsLinear } from './onnx/quantized-linear.js';
export { modelVariants } from './onnx/model-folder.js';
export { resolveModelFolder, TRANSFORMERS_JS_FILES, ONNX_DTYPE_FILES } from './loaders/hub-folder.js';
export type { ResolveModelFolderOptions } from './loaders/hub-folder.js';
export { parseOnnxModel, OnnxDataType } from './onnx/onnx-model.js';
export type { OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx/onnx-model.js';
export { locateModuleWeight, indexGraph, traceInitializer, weightOfLinear, nodeScope, LINEAR_OPS, WEIGHT_PASS_THROUGH } from './onnx/locate-weight.js';
export type { LocatedWeight, WeightLayout, GraphIndex, TracedInitializer } from './onnx/locate-weight.js';
export { readTensorFloat32 } from './onnx/tensor-data.js';
export type { ExternalDataReader, ExternalLocation, ExternalWrite } from './onnx/tensor-data.js';
export { externalizeInitializers } from './onnx/external-data.js';
export type { ExternalizeOptions, ExternalizedModel } from './onnx/external-data.js';
export { fileExternalDataReader } from './onnx/node-io.js';
export { applyEdits, chunksLength } from './onnx/splice.js';
export type { ByteEdit, EnclosingField } from './onnx/splice.js';
export { rewriteForRuntimeAdapters, parseRuntimeAdapterManifest, runtimeAdapterInputNames } from './onnx/runtime-adapters.js';
export type { RuntimeAdapterManifest, RuntimeAdapterRewrite, RuntimeAdapterSlot } from './onnx/runtime-adapters.js';
export { writeRuntimeAdapterModel, loadRuntimeAdapterManifest, allLinearModules, RUNTIME_ADAPTER_MANIFEST } from './onnx/runtime-adapters-folder.js';
export type { WriteRuntimeAdapterModelOptions } from './onnx/runtime-adapters-folder.js';
export { createAdapterSwitcher } from './onnx/adapter-switcher.js';
export type { AdapterSwitcher, AdapterSwitcherOptions, RunnableSession, SessionHost, TensorFactory } from './onnx/adapter-switcher.js';
export { adapterFeedArrays } from './onnx/adapter-feeds.js';
export type { AdapterFeedArray, AdapterFeedArrays, AdapterFeedContext } from './onnx/adapter-feeds.js';
export { BaseModelMismatchError, RankPatternError, TargetModuleMissingError } from './onnx/adapter-errors.js';
export { adapterPipeline } from './pipeline/adapter-pipeline-node.js';
export type { AdapterControls, AdapterPipeline, AdapterPipelineOptions, AdapterSource } from './pipeline/adapter-pipeline.js';
// --- models (HF causal LM loading, TF.js replicas, tokenizer, generation) ---
export { loadCausalLM, CausalLM } from './load-causal-lm.js';
export type { LoadCausalLMOptions, CausalLMConfig, CausalLMSource, CausalLMGenerateResult, Prompt, WeightSourceKind } from './load-causal-lm.js';
export { generate } from './generate.js';
export type { ForwardFn, GenerateOptions, GenerateResult } from './generate.js';
export { Tokenizer } from './tokenizer.js';
export type { EncodeBatchOptions, EncodedBatch, PaddingSide } from './tokenizer.js';
export { FrozenLinear } from './models/frozen-linear.js';
export type { FrozenLinearOptions } from './models/frozen-linear.js';
export { LlamaReplica, LLAMA_EMBEDDING } from './models/llama.js';
export { parseLlamaConfig, LLAMA_FAMILY_TYPES } from './models/llama-config.js';
export type { LlamaConfig, LlamaFamilyType, RopeScaling } from './models/llama-config.js';
export { Gpt2Replica, GPT2_CONV1D_MODULES, isGpt2Conv1dModule } from './models/gpt2.js';
export { parseGpt2Config, GPT2_ACTIVATIONS } from './models/gpt2-config.js';
export type { Gpt2Config, Gpt2Activation } from './models/gpt2-config.js';
export { SUPPORTED_MODEL_TYPES, architectureFor, createReplica } from './models/registry.js';
export type { ArchitectureSpec } from './models/registry.js';
export type { CausalLMInputs, CausalLMReplica, IdMatrix, WeightMap } from './models/types.js';
export type { RawConfig } from './models/config-fields.js';
export { requireWeight, disposeWeights } from './models/weights.js';
export { rmsNorm, layerNorm } from './models/norms.js';
export { silu, geluTanh } from './models/activations.js';
export { ropeInverseFrequencies, ropeTables, rotateHalfMatrix, applyRope, RopeCache } from './models/rope.js';
export type { RopeAngles } from './models/rope.js';
export { groupedQueryAttention, attentionBias, causalMaskData, CausalMaskCache, MASKED_SCORE } from './models/attention.js';
export { checkpointed, GradientCheckpointingSwitch } from './models/gradient-checkpointing.js';
export { LengthCache, CACHED_LENGTHS } from './models/length-cache.js';
export { hubSource, hubFilePath, localFolderSource, isHubModelId, remoteAllowed, offlineMissingError, hubLoadError } from './loaders/hub.js';
export type { HubFetch, HubOptions, ModelFileSource } from './loaders/hub.js';
export { loadModelConfig } from './loaders/config.js';
export type { LoadedConfig } from './loaders/config.js';
export { readSafetensorsWeights, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './loaders/hf-folder.js';
export type { SafetensorsWeights } from './loaders/hf-folder.js';
export { readLlama2c, parseLlama2c, permuteRopeRows, llama2cConfig } from './loaders/llama2c.js';
export type { Llama2cCheckpoint, Llama2cHeader } from './loaders/llama2c.js';
export { readOnnxFolderWeights, DEFAULT_ONNX_FILE, LEGACY_ONNX_FILE } from './loaders/onnx-folder.js';
export type { OnnxFolderWeights } from './loaders/onnx-folder.js';
export { buildWeightMap } from './loaders/weight-map.js';
export type { BuildWeightMapOptions, BuiltWeights, StoredTensor } from './loaders/weight-map.js';
// --- fine-tune (fineTune glue, trajectory replay, CLI train/inspect/replay helpers) ---
export { fineTune, batchLoss, meanLoss, tokenBatchFromRows, resolveSchedule, resolvedAdapterConfig } from './training/fine-tune.js';
export type { FineTuneOptions, FineTuneResult, FineTuneData, FineTuneEvalContext, ScheduleName } from './training/fine-tune.js';
export { tokenBatchLoss, replicaHeadSplit } from './training/batch-loss.js';
export type { LmHeadSplit } from './training/batch-loss.js';
export { causalLmLoss, maskedCrossEntropy, chunkedCausalLmLoss, CHUNKED_LOSS_MIN_ELEMENTS, LOSS_CHUNK_ELEMENTS } from './training/loss.js';
export { BatchSource, parseJsonlExamples, tokenizeExamples, chunkTokenStream } from './training/data.js';
export type { TrainingExample, TokenizedExample, TokenBatch, Encode } from './training/data.js';
export { readJsonlExamples, evaluationBatches, padIdOf } from './training/jsonl-data.js';
export type { JsonlDataOptions } from './training/jsonl-data.js';
export { progressLine, progressPrinter, formatDuration } from './training/progress-line.js';
export type { ProgressSink } from './training/progress-line.js';
export { summarizeModel, locateAdapter, readAdapterForInspection, adapterSpectra, sparkline } from './training/adapter-summary.js';
export type { ModelSummary, AdapterSummary, AdapterModuleSummary, InspectedAdapter, ModuleSpectrum } from './training/adapter-summary.js';
export { replayTrajectory, trajectoryBatch } from './replay.js';
export type { ReplayOptions, ReplayReport, ReplayRun, ReplayRunName, ReplayMeasure } from './replay.js';
export { readTrajectoryFolder, parseTrajectoryConfig, readFloatTensors } from './replay-files.js';
export type { TrajectoryFolder, TrajectoryConfig, ReferenceLaunch, RefTensor } from './replay-files.js';
export { REPLAY_TOLERANCES, relativeDiff, firstDifferentStep } from './replay-checks.js';
export type { ReplayCheck } from './replay-checks.js';
export { main } from './cli/main.js';
export { loadPeftAdapter } from './loaders/peft-adapter.js';
export type { LoadPeftAdapterOptions } from './loaders/peft-adapter.js';
export { applyHubEnvironment, cliErrorMessage } from './cli/cli-messages.js';
export type { Command, CommandIo } from './cli/command.js';
// --- throughput (data-parallel causal-LM jobs, random models, wasm attention) ---
export { causalLmReplicaJob, sliceTokenBatch, countedTargets } from './parallel/causal-lm-job.js';
export type { CausalLmJobOptions } from './parallel/causal-lm-job.js';
export { fineTuneReplicaJob } from './parallel/fine-tune-job.js';
export type { FineTuneReplicaOptions } from './parallel/fine-tune-job.js';
export { randomCausalLM } from './parallel/random-model.js';
export type { RandomCausalLM } from './parallel/random-model.js';
export { groupAttention, prefersGroupSplitAttention } from './models/attention-groups.js';
// --- cleanup (shared trajectory-replay pieces) ---
export { trajectoryFineTuneOptions, finalAdapterTensors } from './replay.js';
