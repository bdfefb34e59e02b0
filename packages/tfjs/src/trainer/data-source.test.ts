import { ConfigError, Rng } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { indexedBatches, shuffledBatches, type DataSource, type JsonValue } from './data-source.js';

function take<B, C extends JsonValue>(source: DataSource<B, C>, n: number, rng: Rng, from: C = source.start): { batches: B[]; cursor: C } {
  const batches: B[] = [];
  let cursor = from;
  for (let i = 0; i < n; i++) {
    const step = source.next(cursor, rng);
    batches.push(step.batch);
    cursor = step.cursor;
  }
  return { batches, cursor };
}

describe('data sources', () => {
  it('indexedBatches addresses batches by index and refuses a bad cursor', () => {
    const source = indexedBatches(
      (i) => i * 10,
      (b) => b + 1,
    );
    const { batches, cursor } = take(source, 3, Rng.fromSeed(0));
    expect(batches).toEqual([0, 10, 20]);
    expect(cursor).toBe(3);
    expect(source.tokens?.(20)).toBe(21);
    expect(() => source.next(-1, Rng.fromSeed(0))).toThrow(ConfigError);
  });

  it('shuffledBatches visits every full batch of each epoch once, in a new order per epoch', () => {
    const source = shuffledBatches({ size: 10, batchSize: 3, batch: (idx) => [...idx] });
    const { batches, cursor } = take(source, 6, Rng.fromSeed(5));
    const epoch0 = batches.slice(0, 3).flat();
    const epoch1 = batches.slice(3, 6).flat();
    // 3 batches of 3 per epoch: 9 distinct examples, the 10th (partial batch) dropped.
    expect(new Set(epoch0).size).toBe(9);
    expect(new Set(epoch1).size).toBe(9);
    expect(epoch0).not.toEqual(epoch1);
    expect(cursor).toMatchObject({ epoch: 1, offset: 3 });
  });

  it('shuffledBatches continues identically from a saved cursor and RNG state', () => {
    const source = shuffledBatches({ size: 7, batchSize: 2, batch: (idx) => [...idx] });
    const rng = Rng.fromSeed(9);
    const whole = take(source, 10, rng).batches;
    const rng2 = Rng.fromSeed(9);
    const first = take(source, 4, rng2);
    // A fresh source object (no cache) with a JSON round-tripped cursor and RNG state.
    const fresh = shuffledBatches({ size: 7, batchSize: 2, batch: (idx) => [...idx] });
    const cursor = JSON.parse(JSON.stringify(first.cursor));
    const rest = take(fresh, 6, Rng.fromState(JSON.parse(JSON.stringify(rng2.getState()))), cursor).batches;
    expect([...first.batches, ...rest]).toEqual(whole);
  });

  it('shuffledBatches validates its sizes', () => {
    expect(() => shuffledBatches({ size: 0, batchSize: 1, batch: () => 0 })).toThrow(/size/);
    expect(() => shuffledBatches({ size: 4, batchSize: 5, batch: () => 0 })).toThrow(/batchSize/);
  });
});
