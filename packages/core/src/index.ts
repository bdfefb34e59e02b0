export {
  TsdError,
  SafetensorsError,
  OnnxError,
  ShapeError,
  ConfigError,
  NonFiniteError,
  FolderLockedError,
  HubError,
} from './errors.js';
export type { TsdErrorCode, ErrorLocation, HubFailure } from './errors.js';
export { matrix, zeros, toFloat32, toFloat64, assertFinite, assertShape } from './matrix.js';
export type { Matrix, MatrixData } from './matrix.js';
export { matmul, transpose, frobeniusNorm, maxAbsDiff } from './matrix-ops.js';
export { Rng } from './random.js';
export type { RngState } from './random.js';
// --- svd ---
export { svd } from './svd-exact.js';
export type { SvdOptions } from './svd-exact.js';
export type { SvdResult } from './svd-types.js';
export { randomizedSvd } from './svd-randomized.js';
export type { RandomizedSvdOptions } from './svd-randomized.js';
export { SvdCache, defaultSvdCache, hashMatrix } from './svd-cache.js';
export type { SvdCacheOptions } from './svd-cache.js';
// --- tsd-math ---
export { loraScalingFor, loraRank, validateLoraFactors } from './lora-factors.js';
export type { LoraFactors, MatrixShape } from './lora-factors.js';
export { changeRates, isLoraFactors } from './change-rates.js';
export type { ChangeRates } from './change-rates.js';
export { selectTaskSpecificDirections, dashBasis } from './tsd-selection.js';
export type { DashBasis } from './tsd-selection.js';
export { dashDelta, foldDashIntoLora, validateDash } from './dash.js';
export type { DashTerm } from './dash.js';
export { loraDelta, mergeLora, unmergeLora, mergeDora, rescaleRows } from './merge.js';
export { initLoraWeights } from './initializers.js';
export type { LoraInitMethod, LoraInitEstimate, LoraInitOptions, LoraInitResult } from './initializers.js';
export { toPlainLora } from './plain-lora-conversion.js';
export type { PlainLoraSource } from './plain-lora-conversion.js';
export { changeRateSpectrum, tsdOverlap, principalAngles } from './tsd-analysis.js';
export type { SpectrumEntry } from './tsd-analysis.js';
// --- formats ---
export {
  SAFETENSORS_DTYPES,
  isSafetensorsDtype,
  dtypeByteSize,
  HOST_IS_LITTLE_ENDIAN,
  float16BitsToNumber,
  numberToFloat16Bits,
  bfloat16BitsToNumber,
  numberToBfloat16Bits,
  decodeFloat16,
  decodeBfloat16,
  decodeFloat32,
  decodeFloat64,
  decodeInt64,
  encodeFloat16,
  encodeBfloat16,
  encodeFloat32,
  encodeFloat64,
  encodeInt64,
} from './dtype.js';
export type { SafetensorsDtype } from './dtype.js';
// --- reduced-precision frozen weights (weight-codes.ts) ---
export {
  FROZEN_DTYPES,
  INT8_BLOCK_SIZE,
  isFrozenDtype,
  int8BlocksPerRow,
  codeBytesPerElement,
  codeByteLength,
  encodedWeightBytes,
  encodeWeight,
  validateEncodedWeight,
  decodeWeight,
  decodeWeightRows,
} from './weight-codes.js';
export type { FrozenDtype, EncodedWeight } from './weight-codes.js';
export { parseSafetensors, serializeSafetensors, tensorToFloat32, float32Tensor, MAX_HEADER_BYTES } from './safetensors.js';
export type { SafetensorsFile, SafetensorsTensor, SerializeSafetensorsOptions } from './safetensors.js';
export { parseJsonDocument, dumpsPythonJson, formatPythonFloat, compareCodePoints } from './python-json.js';
export type { JsonValue, JsonObject, JsonDocument, PythonJsonOptions } from './python-json.js';
export {
  PEFT_PREFIX,
  weightName,
  peftKey,
  parsePeftKey,
  peftMagnitudeKey,
  parsePeftMagnitudeKey,
  nativeKey,
  onnxMatMulNodeName,
  moduleFromOnnxNodeName,
} from './module-names.js';
export type { LoraPart, PeftKeyParts } from './module-names.js';
export {
  createAdapterConfig,
  parseAdapterConfig,
  serializeAdapterConfig,
  validateAdapterConfig,
  matchPatternKey,
  loraRankFor,
  loraAlphaFor,
  loraScaling,
  isTargetModule,
} from './peft-config.js';
export type { LoraAdapterConfig, LoraBias } from './peft-config.js';
export { parsePeftAdapter, serializePeftAdapter, createPeftAdapter, reconcileAdapterConfig } from './peft-adapter.js';
export type { PeftAdapter, SerializedPeftAdapter, SerializePeftAdapterOptions, AdapterWeightsDtype } from './peft-adapter.js';
export { readPeftAdapter, peftAdapterBlobs, savePeftAdapterToDirectory, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from './peft-adapter-files.js';
export type {
  PeftAdapterSource,
  PeftAdapterFiles,
  PeftAdapterFileData,
  PeftAdapterBlobs,
  ReadPeftAdapterOptions,
  AdapterDirectoryHandle,
  AdapterFileHandle,
} from './peft-adapter-files.js';
export { serializeNativeAdapter, parseNativeAdapter, NATIVE_FORMAT_VERSION, NATIVE_METADATA_KEY } from './native-adapter.js';
export type { NativeAdapter } from './native-adapter.js';
export {
  encodeModuleRecords,
  decodeModuleRecords,
  stateToSafetensors,
  stateFromSafetensors,
  combineRecords,
  matrixTensor,
  vectorTensor,
  recordMatrix,
  recordVector,
  EMPTY_RECORD,
  isJsonObject,
} from './module-record.js';
export type { StateTensor, StateRecord, ModuleRecord, EncodedRecords, RecordLocation } from './module-record.js';
export { loraFactorsRecord, dashRecord, initRecord, loraRecord, readLoraFactors, readDashState, readInitResidual, readLoraRecord } from './lora-record.js';
export type { DashState, InitResidual, LoraRecordParts } from './lora-record.js';
