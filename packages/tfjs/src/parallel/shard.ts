import { ConfigError } from '@tsd-peft/core';

/** A contiguous block of rows: `[start, start + count)`. */
export interface RowRange {
  start: number;
  count: number;
}

/**
 * The rows of a global batch of `rows` rows that replica `rank` of
 * `worldSize` trains on: contiguous, near-equal blocks in rank order
 * (`⌊rows·r/N⌋ … ⌊rows·(r+1)/N⌋`), so the replicas together cover the batch
 * exactly once. With unequal blocks (or masked tokens), give the job a
 * `lossWeight` so the averaged gradient still equals the full batch's.
 */
export function shardRange(rank: number, worldSize: number, rows: number): RowRange {
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new ConfigError(`rank ${rank} is outside [0, ${worldSize})`);
  if (!Number.isInteger(rows) || rows < worldSize) {
    throw new ConfigError(`a global batch of ${rows} rows cannot feed ${worldSize} replicas (each needs at least one row)`);
  }
  const start = Math.floor((rows * rank) / worldSize);
  return { start, count: Math.floor((rows * (rank + 1)) / worldSize) - start };
}
