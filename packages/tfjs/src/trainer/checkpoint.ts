import {
  SafetensorsError,
  float32Tensor,
  parseSafetensors,
  serializeSafetensors,
  stateFromSafetensors,
  stateToSafetensors,
  tensorToFloat32,
  type RngState,
  type SafetensorsTensor,
  type StateTensor,
} from '@tsd-peft/core';
import type { ModelCheckpointState, TensorData } from '../trainable.js';
import type { AdamStateData, AdamVariableState, ResolvedAdamConfig } from './adam.js';
import type { JsonValue } from './data-source.js';
import type { EvalRecord } from './progress.js';

/** `format` field of the checkpoint metadata. */
export const CHECKPOINT_FORMAT = 'tsd-peft-trainer-checkpoint';
/** Version of the checkpoint layout this code writes and reads. */
export const CHECKPOINT_VERSION = 1;
/** The `__metadata__` key that holds the JSON part of a checkpoint. */
export const CHECKPOINT_METADATA_KEY = 'tsd_peft_trainer';

/** Everything needed to continue a run exactly where it stopped. */
export interface TrainerCheckpoint {
  /** Completed optimizer steps. */
  step: number;
  /** Loss of every completed step (index i = step i+1). */
  lossHistory: number[];
  /** Evaluations so far. */
  evalHistory: EvalRecord[];
  /** Training seconds so far. */
  elapsedSeconds: number;
  /** The trainer's RNG after the last completed step. */
  rng: RngState;
  /** The data source's cursor after the last completed step. */
  cursor: JsonValue;
  /** Values of the model's trainable variables, by stable name. */
  variables: Map<string, TensorData>;
  /** Adam moments and per-variable step counts. */
  optimizer: AdamStateData;
  /** The model's own state ({@link TrainableModel.checkpointState}), when it has any. */
  model?: ModelCheckpointState;
}

/** The JSON metadata of a checkpoint file: the plain fields as they are, tensors by name. */
interface CheckpointJson extends Pick<TrainerCheckpoint, 'step' | 'lossHistory' | 'evalHistory' | 'elapsedSeconds' | 'rng' | 'cursor'> {
  format: string;
  version: number;
  variables: string[];
  optimizer: { config: ResolvedAdamConfig; steps: Record<string, number> };
  model: { meta: Record<string, unknown>; tensors: string[] } | null;
}

// Tensor-name prefixes; a stable variable name may itself contain '/' or '.', the prefix never does.
const VARIABLE = 'variable/';
const EXP_AVG = 'optimizer.exp_avg/';
const EXP_AVG_SQ = 'optimizer.exp_avg_sq/';
const MODEL = 'model/';

/**
 * A checkpoint as one safetensors file: tensors named `variable/<name>`,
 * `optimizer.exp_avg/<name>`, `optimizer.exp_avg_sq/<name>` and
 * `model/<key>` (the model's state, F32 or F64), and the rest (step, histories, RNG, cursor, step counts,
 * model meta) as JSON under `__metadata__.tsd_peft_trainer`. One file means one
 * atomic rename, and any safetensors reader can inspect it.
 */
export function encodeCheckpoint(checkpoint: TrainerCheckpoint): Uint8Array {
  const tensors = new Map<string, SafetensorsTensor>();
  const put = (name: string, t: TensorData) => tensors.set(name, float32Tensor(t.shape, t.data, name));
  for (const [name, t] of checkpoint.variables) put(VARIABLE + name, t);
  const steps: Record<string, number> = {};
  for (const [name, s] of Object.entries(checkpoint.optimizer.variables)) {
    put(EXP_AVG + name, s.expAvg);
    put(EXP_AVG_SQ + name, s.expAvgSq);
    steps[name] = s.step;
  }
  const modelTensors = Object.entries(checkpoint.model?.tensors ?? {});
  for (const [key, t] of modelTensors) tensors.set(MODEL + key, stateToSafetensors(t, MODEL + key));
  const json: CheckpointJson = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: checkpoint.step,
    lossHistory: checkpoint.lossHistory,
    evalHistory: checkpoint.evalHistory,
    elapsedSeconds: checkpoint.elapsedSeconds,
    rng: checkpoint.rng,
    cursor: checkpoint.cursor,
    variables: [...checkpoint.variables.keys()],
    optimizer: { config: checkpoint.optimizer.config, steps },
    model: checkpoint.model === undefined ? null : { meta: checkpoint.model.meta, tensors: modelTensors.map(([k]) => k) },
  };
  return serializeSafetensors(tensors, { [CHECKPOINT_METADATA_KEY]: JSON.stringify(json) });
}

/**
 * Reads a checkpoint written by {@link encodeCheckpoint}. Throws
 * {@link SafetensorsError} naming `file` (and the tensor) when the file is not
 * a trainer checkpoint of this version or lacks a tensor its metadata lists.
 */
export function decodeCheckpoint(bytes: Uint8Array, file?: string): TrainerCheckpoint {
  const parsed = parseSafetensors(bytes, file);
  const raw = parsed.metadata?.[CHECKPOINT_METADATA_KEY];
  if (raw === undefined) throw new SafetensorsError(`not a trainer checkpoint: no __metadata__.${CHECKPOINT_METADATA_KEY}`, { file });
  let json: CheckpointJson;
  try {
    json = JSON.parse(raw) as CheckpointJson;
  } catch (cause) {
    throw new SafetensorsError(`__metadata__.${CHECKPOINT_METADATA_KEY} is not valid JSON`, { file }, { cause });
  }
  if (json.format !== CHECKPOINT_FORMAT || json.version !== CHECKPOINT_VERSION) {
    throw new SafetensorsError(`unsupported checkpoint format ${JSON.stringify(json.format)} version ${JSON.stringify(json.version)} (expected ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION})`, { file });
  }
  if (!Number.isInteger(json.step) || json.step < 0 || !Array.isArray(json.lossHistory) || json.lossHistory.length !== json.step) {
    throw new SafetensorsError(`checkpoint step ${json.step} disagrees with its loss history of ${json.lossHistory?.length} entries`, { file });
  }
  const entry = (name: string): SafetensorsTensor => {
    const t = parsed.tensors.get(name);
    if (t === undefined) throw new SafetensorsError('checkpoint metadata lists a tensor the file lacks', { file, tensor: name });
    return t;
  };
  const take = (name: string): TensorData => ({ shape: [...entry(name).shape], data: tensorToFloat32(entry(name), name) });
  const variables = new Map<string, TensorData>(json.variables.map((name) => [name, take(VARIABLE + name)]));
  const optimizerVariables: Record<string, AdamVariableState> = {};
  for (const [name, step] of Object.entries(json.optimizer.steps)) {
    optimizerVariables[name] = { step, expAvg: take(EXP_AVG + name), expAvgSq: take(EXP_AVG_SQ + name) };
  }
  const checkpoint: TrainerCheckpoint = {
    step: json.step,
    lossHistory: json.lossHistory,
    evalHistory: json.evalHistory,
    elapsedSeconds: json.elapsedSeconds,
    rng: json.rng,
    cursor: json.cursor,
    variables,
    optimizer: { config: json.optimizer.config, variables: optimizerVariables },
  };
  if (json.model !== null) {
    const tensors: Record<string, StateTensor> = {};
    for (const key of json.model.tensors) tensors[key] = stateFromSafetensors(entry(MODEL + key), MODEL + key, file);
    checkpoint.model = { tensors, meta: json.model.meta };
  }
  return checkpoint;
}
