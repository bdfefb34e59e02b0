import { ConfigError } from '@tsd-peft/core';

/**
 * A learning-rate schedule: the learning rate used by the optimizer step whose
 * 0-based index is `step` (the number of steps completed before it). This is
 * the convention of PyTorch's `LambdaLR` as Hugging Face uses it: the scheduler
 * is stepped after each optimizer step, so the first update uses `lr(0)`.
 */
export type LrSchedule = (step: number) => number;

/** Options shared by the warmup-then-decay schedules. */
export interface WarmupDecayOptions {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Steps of linear warmup from 0 to `lr`. */
  warmupSteps: number;
  /** Total optimizer steps; the decay reaches its floor here. */
  totalSteps: number;
  /** Floor of the decay as a fraction of `lr` (default 0). */
  minLrRatio?: number;
}

/** A constant learning rate. */
export function constantLr(lr: number): LrSchedule {
  checkLr(lr);
  return () => lr;
}

/**
 * Linear warmup then linear decay to `minLrRatio·lr` at `totalSteps`: with
 * `minLrRatio = 0` this is `transformers.get_linear_schedule_with_warmup`,
 * `lr · s/w` for s < w, then `lr · max(0, (T − s)/(T − w))`.
 */
export function linearWarmupDecay(options: WarmupDecayOptions): LrSchedule {
  const { lr, warmupSteps: w, totalSteps: T, minLrRatio: floor } = checkWarmup(options, 'linearWarmupDecay');
  return (step) => {
    if (step < w) return (lr * step) / Math.max(1, w);
    const remaining = Math.max(0, (T - step) / Math.max(1, T - w));
    return lr * (floor + (1 - floor) * remaining);
  };
}

/**
 * Linear warmup then half-cosine decay to `minLrRatio·lr` at `totalSteps`:
 * with `minLrRatio = 0` this is `transformers.get_cosine_schedule_with_warmup`
 * (num_cycles 0.5), `lr · max(0, ½(1 + cos(π·p)))` with p = (s − w)/(T − w).
 */
export function cosineWarmupDecay(options: WarmupDecayOptions): LrSchedule {
  const { lr, warmupSteps: w, totalSteps: T, minLrRatio: floor } = checkWarmup(options, 'cosineWarmupDecay');
  return (step) => {
    if (step < w) return (lr * step) / Math.max(1, w);
    const progress = (step - w) / Math.max(1, T - w);
    const cosine = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    // Past T the cosine would rise again; hold the floor like a finished decay.
    return lr * (floor + (1 - floor) * (progress >= 1 ? 0 : cosine));
  };
}

function checkLr(lr: number, field = 'lr'): void {
  if (!Number.isFinite(lr) || lr < 0) throw new ConfigError(`${field} must be a finite non-negative number, got ${lr}`);
}

function checkWarmup(options: WarmupDecayOptions, name: string): Required<WarmupDecayOptions> {
  const { lr, warmupSteps, totalSteps, minLrRatio = 0 } = options;
  checkLr(lr, `${name}.lr`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new ConfigError(`${name}.totalSteps must be a positive integer, got ${totalSteps}`);
  }
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps > totalSteps) {
    throw new ConfigError(`${name}.warmupSteps must be an integer in [0, totalSteps=${totalSteps}], got ${warmupSteps}`);
  }
  if (!Number.isFinite(minLrRatio) || minLrRatio < 0 || minLrRatio > 1) {
    throw new ConfigError(`${name}.minLrRatio must be in [0, 1], got ${minLrRatio}`);
  }
  return { lr, warmupSteps, totalSteps, minLrRatio };
}
