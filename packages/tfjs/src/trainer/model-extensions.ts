import type { TrainableModel } from '../trainable.js';

/**
 * Optional extension of {@link TrainableModel} the trainer honours: a model
 * that re-initialises some variables mid-run (LoRA-Init / LoRA-TSD re-seed A
 * and B after their pre-launch estimate) lists them here after
 * `afterOptimizerStep`, and the trainer drops their optimizer state so their
 * next update starts from zero moments and t = 1, as a fresh PyTorch
 * parameter would. Proposed for `trainable.ts`; kept local until adopted.
 */
export interface OptimizerResetRequests {
  /** Names whose optimizer state must restart; called once after each `afterOptimizerStep`. */
  consumeResetRequests?(): readonly string[];
}

/** What {@link train} accepts: a {@link TrainableModel}, optionally with {@link OptimizerResetRequests}. */
export type TrainerModel = TrainableModel & OptimizerResetRequests;
