import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NonFiniteError, ShapeError, type Rng } from '@tsd-peft/core';
import type { TensorData, TrainableModel } from '../trainable.js';
import type { AdamOptimizer } from './adam.js';
import type { TrainerCheckpoint } from './checkpoint.js';
import type { JsonValue } from './data-source.js';
import type { EvalRecord } from './progress.js';

/** The loop's position: what a checkpoint captures besides tensors. */
export interface LoopState {
  step: number;
  lossHistory: number[];
  evalHistory: EvalRecord[];
  rng: Rng;
  cursor: JsonValue;
}

/** Snapshots the model, optimizer and loop into a {@link TrainerCheckpoint} (copies of every tensor). */
export function captureCheckpoint(model: TrainableModel, optimizer: AdamOptimizer, loop: LoopState, elapsedSeconds: number): TrainerCheckpoint {
  const variables = new Map<string, TensorData>();
  for (const [name, v] of model.trainableVariables()) {
    variables.set(name, { shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) });
  }
  const checkpoint: TrainerCheckpoint = {
    step: loop.step,
    lossHistory: [...loop.lossHistory],
    evalHistory: [...loop.evalHistory],
    elapsedSeconds,
    rng: loop.rng.getState(),
    cursor: loop.cursor,
    variables,
    optimizer: optimizer.exportState(),
  };
  const modelState = model.checkpointState?.();
  if (modelState !== undefined) checkpoint.model = modelState;
  return checkpoint;
}

/**
 * Puts a checkpoint back: first the model's own state (which may recreate
 * variables, e.g. a launched LoRA-Dash `d`), then every trainable variable's
 * value, then the optimizer state. The model's variable set must match the
 * checkpoint's exactly; a mismatch throws {@link ConfigError} / {@link ShapeError}
 * naming the variable and `file`.
 */
export function restoreCheckpoint(model: TrainableModel, optimizer: AdamOptimizer, checkpoint: TrainerCheckpoint, file: string): void {
  if (checkpoint.model !== undefined) {
    if (model.restoreCheckpointState === undefined) {
      throw new ConfigError('the checkpoint holds model state but the model has no restoreCheckpointState()', { file });
    }
    model.restoreCheckpointState(checkpoint.model);
  }
  const variables = model.trainableVariables();
  for (const name of variables.keys()) {
    if (!checkpoint.variables.has(name)) {
      throw new ConfigError('the model lists a trainable variable the checkpoint lacks (different model or adapter config?)', {
        file,
        tensor: name,
      });
    }
  }
  for (const [name, saved] of checkpoint.variables) {
    const variable = variables.get(name);
    if (variable === undefined) {
      throw new ConfigError('the checkpoint holds a variable the model does not list (a variable created mid-run must be recreated by restoreCheckpointState)', { file, tensor: name });
    }
    if (saved.shape.length !== variable.shape.length || saved.shape.some((d, i) => d !== variable.shape[i])) {
      throw new ShapeError(`checkpoint value does not fit the variable's shape [${variable.shape.join(', ')}]`, {
        file,
        tensor: name,
        shape: saved.shape,
      });
    }
    tf.tidy(() => variable.assign(tf.tensor(saved.data, saved.shape, 'float32')));
  }
  for (const name of Object.keys(checkpoint.optimizer.variables)) {
    if (!variables.has(name)) throw new ConfigError('the checkpoint holds optimizer state for an unknown variable', { file, tensor: name });
  }
  optimizer.importState(checkpoint.optimizer);
}

/**
 * Throws {@link NonFiniteError} for the first non-finite element of `grad`,
 * naming the variable, its shape, the step and the flat index; or, when every
 * element is finite, says its squared norm overflowed float32.
 */
export function throwNonFiniteGradient(name: string, grad: tf.Tensor, step: number): never {
  const values = grad.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) {
      throw new NonFiniteError(`gradient of ${name} is ${v} at flat index ${i} in step ${step}; the run stopped before updating`, {
        tensor: name,
        shape: grad.shape,
      });
    }
  }
  throw new NonFiniteError(`gradient norm of ${name} overflowed float32 in step ${step}; the run stopped before updating`, {
    tensor: name,
    shape: grad.shape,
  });
}
