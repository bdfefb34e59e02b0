import type * as tf from '@tensorflow/tfjs-core';
import type { StateTensor } from '@tsd-peft/core';

/** A float32 tensor as plain data, for checkpoints and exports. */
export interface TensorData {
  shape: number[];
  data: Float32Array;
}

/** Everything a model contributes to a checkpoint besides optimizer state. */
export interface ModelCheckpointState {
  /** Named float32 or float64 tensors (frozen dash bases, residuals, spectra, …). */
  tensors: Record<string, StateTensor>;
  /** JSON-serialisable extra state (e.g. which LoRA-Dash modules have launched). */
  meta: Record<string, unknown>;
}

/**
 * The contract between the trainer and whatever it trains (an adapter set, or
 * full fine-tuning). The set of trainable variables may grow during training
 * (LoRA-Dash adds `d` at launch); the trainer starts optimizer state for a
 * variable the first time it sees it.
 */
export interface TrainableModel {
  /** The variables to optimise, by stable name. Frozen weights are never listed. */
  trainableVariables(): ReadonlyMap<string, tf.Variable>;
  /** Called after each optimizer step with the number of completed steps (1-based). */
  afterOptimizerStep?(completedSteps: number): void;
  /**
   * Tensors `afterOptimizerStep(completedSteps)` will read on the host (e.g.
   * LoRA-Dash's A, B and W at its launch). On GPU backends the trainer awaits
   * their values first, since a synchronous read-back there stalls or, with
   * webgpu in Node, fails.
   */
  hostReadsAfterStep?(completedSteps: number): readonly tf.Tensor[];
  /** Tensors `checkpointState()` and exports read on the host, beyond the trainable variables. */
  hostReadsForState?(): readonly tf.Tensor[];
  /** State to store in a checkpoint, beyond the trainable variables' values. */
  checkpointState?(): ModelCheckpointState;
  /** Restores {@link TrainableModel.checkpointState}; called before variables are restored. */
  restoreCheckpointState?(state: ModelCheckpointState): void;
  /**
   * Names of variables whose optimizer state must restart, collected once
   * after each `afterOptimizerStep`. LoRA-Init / LoRA-TSD re-seed A and B after
   * their pre-launch estimate; their next update then starts from zero moments
   * and t = 1, as a fresh PyTorch parameter would.
   */
  consumeResetRequests?(): readonly string[];
}
