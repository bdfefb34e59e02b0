import { ConfigError, Rng } from '@tsd-peft/core';

/** A JSON-serialisable value: what a data cursor may hold, so checkpoints can store it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One step of a {@link DataSource}: the batch at a cursor and the cursor after it. */
export interface DataStep<B, C extends JsonValue> {
  batch: B;
  cursor: C;
}

/**
 * Where training batches come from, as a pure function of a resumable cursor.
 * The trainer keeps the cursor (and the {@link Rng} it passes in) in every
 * checkpoint, so a resumed run sees exactly the batches an uninterrupted run
 * would have seen. `next` is called inside the trainer's `tf.tidy`, so tensors it
 * creates for the batch are released after the step.
 */
export interface DataSource<B, C extends JsonValue = JsonValue> {
  /** The cursor of a fresh run. */
  readonly start: C;
  /** The batch at `cursor` and the cursor that follows it; may draw from `rng` (shuffling). */
  next(cursor: C, rng: Rng): DataStep<B, C>;
  /** Tokens in `batch` that count for throughput (tokens/s in progress events). */
  tokens?(batch: B): number;
}

/**
 * A data source over a numbered stream of batches: batch `i` is `batchAt(i)`,
 * and the cursor is the index of the next batch. Handy when batches are a
 * deterministic function of their index (e.g. windows of a token stream).
 */
export function indexedBatches<B>(batchAt: (index: number) => B, tokens?: (batch: B) => number): DataSource<B, number> {
  const source: DataSource<B, number> = {
    start: 0,
    next(cursor) {
      if (!Number.isInteger(cursor) || cursor < 0) {
        throw new ConfigError(`data cursor must be a non-negative integer, got ${JSON.stringify(cursor)}`);
      }
      return { batch: batchAt(cursor), cursor: cursor + 1 };
    },
  };
  if (tokens !== undefined) source.tokens = tokens;
  return source;
}

/** Cursor of {@link shuffledBatches}: the epoch, the position in it, and the seed of its permutation. */
export interface ShuffleCursor {
  [key: string]: JsonValue;
  epoch: number;
  offset: number;
  seed: number;
}

/** Options of {@link shuffledBatches}. */
export interface ShuffledBatchesOptions<B> {
  /** Number of examples. */
  size: number;
  /** Examples per batch. The last partial batch of an epoch is dropped. */
  batchSize: number;
  /** Builds a batch from example indices. */
  batch: (indices: readonly number[]) => B;
  /** Tokens in a batch, for throughput. */
  tokens?: (batch: B) => number;
}

/**
 * Epochs over `size` examples in a fresh random order each epoch. The order of
 * an epoch is derived from a seed drawn from the trainer's {@link Rng} when the
 * epoch starts and stored in the cursor, so a resumed run rebuilds the same
 * permutation without storing it.
 */
export function shuffledBatches<B>(options: ShuffledBatchesOptions<B>): DataSource<B, ShuffleCursor> {
  const { size, batchSize } = options;
  if (!Number.isInteger(size) || size < 1) throw new ConfigError(`shuffledBatches: size must be a positive integer, got ${size}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > size) {
    throw new ConfigError(`shuffledBatches: batchSize must be an integer in [1, ${size}], got ${batchSize}`);
  }
  const perEpoch = Math.floor(size / batchSize);
  let cached: { seed: number; order: number[] } | undefined;
  const orderFor = (seed: number): number[] => {
    if (cached?.seed !== seed) {
      const order = Array.from({ length: size }, (_, i) => i);
      cached = { seed, order: Rng.fromSeed(seed).shuffle(order) };
    }
    return cached.order;
  };
  const source: DataSource<B, ShuffleCursor> = {
    // seed -1 marks "no permutation drawn yet": the first call draws one.
    start: { epoch: 0, offset: 0, seed: -1 },
    next(cursor, rng) {
      let { epoch, offset, seed } = cursor;
      if (seed < 0 || offset >= perEpoch) {
        if (seed >= 0) epoch += 1;
        offset = 0;
        seed = rng.nextUint32();
      }
      const order = orderFor(seed);
      const indices = order.slice(offset * batchSize, (offset + 1) * batchSize);
      return { batch: options.batch(indices), cursor: { epoch, offset: offset + 1, seed } };
    },
  };
  if (options.tokens !== undefined) source.tokens = options.tokens;
  return source;
}
