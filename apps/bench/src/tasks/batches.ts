import { ConfigError, Rng } from '@tsd-peft/core';
import type { TokenRow } from '../model/types.js';
import type { TrainingSource } from './types.js';

/** One training batch, right-padded to a common length. */
export interface Batch {
  /** `[batch][len]` token ids (padding uses the pad id). */
  ids: number[][];
  /** `[batch][len]`, 1 where the token is a counted target (0 on padding, prompts and position 0). */
  lossMask: number[][];
  /** `[batch][len]`, 1 for real tokens, 0 for padding. */
  attentionMask: number[][];
  /** Counted target tokens in the batch (for tokens/s). */
  targetTokens: number;
}

/** Options of {@link makeBatchSchedule}. */
export interface BatchScheduleOptions {
  batchSize: number;
  seqLen: number;
  steps: number;
  /** The run seed: the data order depends on it and on nothing else (never on the method). */
  seed: number;
  padId: number;
}

/**
 * The whole data order of a run, fixed up front from the seed, so every method
 * with the same seed sees the same batches, and a resumed run continues with
 * exactly the batch it would have had. Streams: each row is a window of
 * `seqLen` tokens at a uniformly drawn offset. Rows: epochs of a seeded
 * shuffle, examples consumed in order across batch boundaries.
 */
export function makeBatchSchedule(source: TrainingSource, options: BatchScheduleOptions): (step: number) => Batch {
  const { batchSize, seqLen, steps, seed, padId } = options;
  // A data-order stream separate from the adapter-init stream (which also starts from the seed).
  const rng = Rng.fromSeed((seed ^ 0x0da7a0de) >>> 0);
  const picks: number[] = [];
  if (source.kind === 'stream') {
    const span = source.ids.length - seqLen;
    if (span < 1) throw new ConfigError(`training text has ${source.ids.length} tokens, fewer than seq len ${seqLen} + 1`);
    for (let i = 0; i < steps * batchSize; i++) picks.push(rng.nextInt(span + 1));
  } else {
    if (source.rows.length === 0) throw new ConfigError('training set is empty');
    while (picks.length < steps * batchSize) picks.push(...rng.shuffle(source.rows.map((_, i) => i)));
  }
  return (step) => {
    if (!Number.isInteger(step) || step < 0 || step >= steps) throw new ConfigError(`batch step ${step} out of range [0, ${steps})`);
    const rows: TokenRow[] = [];
    for (let j = 0; j < batchSize; j++) {
      const pick = picks[step * batchSize + j] as number;
      if (source.kind === 'stream') {
        const ids = Array.from(source.ids.subarray(pick, pick + seqLen));
        rows.push({ ids, targetMask: ids.map((_, t) => (t === 0 ? 0 : 1)) });
      } else {
        rows.push(source.rows[pick] as TokenRow);
      }
    }
    return padRows(rows, padId);
  };
}

/** Right-pads rows to the longest one; padding is never a target. */
export function padRows(rows: readonly TokenRow[], padId: number): Batch {
  const len = Math.max(...rows.map((r) => r.ids.length));
  let targetTokens = 0;
  const ids: number[][] = [];
  const lossMask: number[][] = [];
  const attentionMask: number[][] = [];
  for (const row of rows) {
    const pad = len - row.ids.length;
    ids.push([...row.ids, ...new Array<number>(pad).fill(padId)]);
    attentionMask.push([...row.ids.map(() => 1), ...new Array<number>(pad).fill(0)]);
    const mask = row.targetMask.map((m, t) => (t === 0 ? 0 : m));
    lossMask.push([...mask, ...new Array<number>(pad).fill(0)]);
    targetTokens += mask.reduce((a, b) => a + b, 0);
  }
  return { ids, lossMask, attentionMask, targetTokens };
}
