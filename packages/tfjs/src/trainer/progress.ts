/** What an evaluation callback returns: one number (e.g. validation loss) or named numbers. */
export type EvalResult = number | Record<string, number>;

/** One evaluation, at a completed step. */
export interface EvalRecord {
  /** Completed optimizer steps when the evaluation ran (1-based). */
  step: number;
  result: EvalResult;
  /** Wall-clock seconds the evaluation took (absent in checkpoints written before it was recorded). */
  seconds?: number;
}

/** Emitted after every optimizer step, for progress bars and loss curves. */
export interface ProgressEvent {
  /** Completed optimizer steps (1-based: 1 after the first update). */
  step: number;
  /** The run's total optimizer steps. */
  totalSteps: number;
  /** Loss of this step's forward pass, before its update (mean over micro-batches). */
  loss: number;
  /** Learning rate this step's update used. */
  lr: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** Tokens per second in this session, or null when the data source does not count tokens. */
  tokensPerSecond: number | null;
  /** Estimated seconds to finish, from this session's mean step time. */
  etaSeconds: number;
  /** Training seconds so far, summed over resumed sessions. */
  elapsedSeconds: number;
  /** The evaluation run after this step, if one was due. */
  eval?: EvalResult;
  /** The checkpoint written after this step, if one was due (file path or store location). */
  checkpoint?: string;
}

/**
 * Wall-clock bookkeeping of one training session: elapsed time (carried over
 * from earlier sessions on resume), tokens/s and ETA from this session's pace.
 */
export class ProgressMeter {
  private readonly startedAt = performance.now();
  private sessionSteps = 0;
  private sessionTokens = 0;

  constructor(
    private readonly totalSteps: number,
    private readonly elapsedBefore = 0,
  ) {}

  /** Records one finished step that consumed `tokens` tokens (null: not counted). */
  record(tokens: number | null): void {
    this.sessionSteps += 1;
    if (tokens !== null) this.sessionTokens += tokens;
  }

  /** Seconds spent in this session. */
  sessionSeconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** Training seconds summed over sessions. */
  elapsedSeconds(): number {
    return this.elapsedBefore + this.sessionSeconds();
  }

  /** Session tokens per second, or null when tokens are not counted. */
  tokensPerSecond(counting: boolean): number | null {
    if (!counting) return null;
    const seconds = this.sessionSeconds();
    return seconds > 0 ? this.sessionTokens / seconds : 0;
  }

  /** Seconds left for the remaining steps at this session's mean pace. */
  etaSeconds(completedSteps: number): number {
    if (this.sessionSteps === 0) return 0;
    return ((this.totalSteps - completedSteps) * this.sessionSeconds()) / this.sessionSteps;
  }
}
