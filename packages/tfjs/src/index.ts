// --- seams (linear.ts, trainable.ts)
export type { LinearProvider } from './linear.js';
export type { TensorData, ModelCheckpointState, TrainableModel } from './trainable.js';
// --- trainer ---
export { train } from './trainer/train.js';
export type { TrainOptions, TrainResult, LossContext, CheckpointOptions, EvalOptions } from './trainer/train.js';
export { AdamOptimizer, resolveAdamConfig } from './trainer/adam.js';
export type { AdamConfig, ResolvedAdamConfig, AdamStateData, AdamVariableState } from './trainer/adam.js';
export { constantLr, linearWarmupDecay, cosineWarmupDecay } from './trainer/schedules.js';
export type { LrSchedule, WarmupDecayOptions } from './trainer/schedules.js';
export { gradientNorms, globalNorm, clipCoefficient, scaleToMaxNorm, clipByGlobalNorm } from './trainer/clip.js';
export { accumulateGradients } from './trainer/gradients.js';
export type { StepGradients } from './trainer/gradients.js';
export { indexedBatches, shuffledBatches } from './trainer/data-source.js';
export type { DataSource, DataStep, JsonValue, ShuffleCursor, ShuffledBatchesOptions } from './trainer/data-source.js';
export { encodeCheckpoint, decodeCheckpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CHECKPOINT_METADATA_KEY } from './trainer/checkpoint.js';
export type { TrainerCheckpoint } from './trainer/checkpoint.js';
export { checkpointFileName } from './trainer/checkpoint-store.js';
export type { CheckpointStore, StoredCheckpoint, DirectoryStoreOptions } from './trainer/checkpoint-store.js';
export { ProgressMeter } from './trainer/progress.js';
export type { ProgressEvent, EvalResult, EvalRecord } from './trainer/progress.js';
// --- adapters (backend setup, ops, variants, injection) ---
export { setupBackend } from './backend/setup.js';
export type { BackendName, BackendOptions } from './backend/setup.js';
export {
  prefersExplicitTranspose,
  prefersPretransposedWeights,
  transposeLast2,
  batchMatMul,
  matMulT,
  matMul2d,
  embeddingLookup,
  scatterAddRows,
  sliceAxis,
  rotateHalf,
  sumToShape,
} from './backend/ops.js';
export { installGradientFixes, batchMatMulGradConfig } from './backend/gradient-fixes.js';
export { installWasmGemm, wasmGemmActive, setWasmGemmEnabled, setWasmGemmFma, wasmGemmFmaActive } from './backend/wasm-gemm.js';
export { ReducedWeight, reducedMatMul, reducedGather } from './backend/reduced-weight.js';
export { installWasmReducedGemm } from './backend/wasm-reduced-gemm.js';
export { installEagerBackprop, setEagerBackpropEnabled } from './backend/eager-backprop.js';
export { fusedCrossEntropyGrad, fusedOpsActive, fusedRmsNorm, fusedRope, fusedSwiGlu, setFusedOpsEnabled } from './backend/fused-ops.js';
export { ADAPTER_DEFAULTS, resolveAdapterConfig } from './adapter-config.js';
export type { AdapterConfig, AdapterMethod, InitEstimate, ResolvedAdapterConfig } from './adapter-config.js';
export { AdapterModel, injectAdapters } from './adapter-model.js';
export { injectPeftAdapter } from './adapter-io.js';
export type { PeftExportOptions, NativeExportOptions } from './adapter-io.js';
export { FrozenWeight } from './frozen-weight.js';
export type { ReplacementPrecision } from './frozen-weight.js';
export { isReducedWeight, baseWeightShape, baseWeightDtype, baseWeightBytes, baseWeightTensors, denseBaseWeight, storeBaseWeight } from './base-weight.js';
export type { BaseWeight } from './base-weight.js';
export { selectTargetModules, moduleOfWeight, compareModulePaths } from './target-modules.js';
export { VARIANTS, ADAPTER_METHODS, variantFor, variantForPeftConfig, registerVariant, isDenseMethod } from './variants/registry.js';
export type { BuiltinAdapterMethod } from './variants/registry.js';
export { doraVariant, DORA_MAGNITUDE_KEY } from './variants/dora.js';
export type { DoraState } from './variants/dora.js';
export { createDashVariant } from './variants/lora-dash.js';
export type { DashState, DashLaunch } from './variants/lora-dash.js';
export type { Variant, AnyVariant, ModuleContext, AdapterParts, TsdInfo, PeftForm, PeftModule } from './variants/variant.js';
// --- throughput: the shared-memory pieces (trainDataParallel over worker_threads is in ./node/index.ts) ---
export { shardRange } from './parallel/shard.js';
export type { RowRange } from './parallel/shard.js';
export { FixedOrderAllReduce } from './parallel/all-reduce.js';
export { SharedBarrier, ReplicaAbortedError } from './parallel/barrier.js';
export { createSharedMemory, DEFAULT_CHUNK_ELEMENTS } from './parallel/shared-memory.js';
export type { SharedMemoryLayout } from './parallel/shared-memory.js';
// --- webgpu (WebGPU backend in Node and browsers, GPU memory, host reads) ---
export { requestWebGpuAdapter, isSoftwareAdapterInfo, mayHaveHardwareGpu, describeAdapter } from './backend/webgpu-adapter.js';
export type { WebGpuAdapterInfo, WebGpuAdapterOptions, WebGpuAdapterHandle } from './backend/webgpu-adapter.js';
export { registerWebGpuBackend, webGpuBackendInfo, describeWebGpuBackend, webGpuDeviceErrors } from './backend/webgpu-backend.js';
export type { WebGpuBackendInfo } from './backend/webgpu-backend.js';
export { webGpuMemory, resetPeakGpuMemory, releaseWebGpuBufferPool } from './backend/webgpu-memory.js';
export type { WebGpuMemory } from './backend/webgpu-memory.js';
export { webGpuDispatchCount } from './backend/webgpu-dispatches.js';
export { needsAsyncReads, prefetchHostValues, readFloat32 } from './backend/webgpu-host-reads.js';
export { measureMatMulPeak } from './backend/webgpu-matmul-peak.js';
export type { MatMulPeak, MatMulPeakOptions, MatMulTiming } from './backend/webgpu-matmul-peak.js';
