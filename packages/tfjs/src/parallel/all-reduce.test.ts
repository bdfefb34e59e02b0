/**
 * The shared-memory all-reduce with real worker threads: chunked (a chunk
 * smaller than the gradient, boundaries inside segments, an empty segment),
 * three ranks, and the values checked exactly against a float64 reference,
 * since the reduction is defined as one fixed-order float64 sum rounded once.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { createSharedMemory, CONTROL } from './shared-memory.js';
import { SharedBarrier, ReplicaAbortedError } from './barrier.js';
import { bundleWorkerEntry } from './test-fixtures/bundle.js';
import { contribution } from './test-fixtures/contribution.js';
import { ShapeError } from '@tsd-peft/core';
import { FixedOrderAllReduce } from './all-reduce.js';

let script = '';
beforeAll(async () => {
  script = await bundleWorkerEntry(fileURLToPath(new URL('./test-fixtures/reduce-worker.ts', import.meta.url)), 'reduce-worker');
});
afterAll(() => rmSync(script, { force: true }));

interface ReduceOutput {
  first: Float32Array[];
  second: Float32Array[];
  scalars: number[][];
  scalars2: number[][];
  /** `meanInto` results of successive rounds with new values each round. */
  rounded: Float32Array[][];
}

async function runRanks(worldSize: number, lengths: number[], chunk: number, rounds = 0): Promise<ReduceOutput[]> {
  const memory = createSharedMemory(worldSize, chunk, 4);
  return Promise.all(
    Array.from(
      { length: worldSize },
      (_, rank) =>
        new Promise<ReduceOutput>((resolve, reject) => {
          const w = new Worker(script, { workerData: { memory, rank, lengths, rounds } });
          w.once('message', (m: ReduceOutput) => {
            resolve(m);
            void w.terminate();
          });
          w.once('error', reject);
        }),
    ),
  );
}

describe('FixedOrderAllReduce', () => {
  const lengths = [5, 0, 11, 3];

  it('averages in fixed rank order, identically on every rank, across chunk boundaries', async () => {
    const outs = await runRanks(3, lengths, 7);
    const expected = lengths.map((len, s) => Float32Array.from({ length: len }, (_, k) => (contribution(0, s, k) + contribution(1, s, k) + contribution(2, s, k)) / 3));
    for (const out of outs) {
      // exact: one float64 sum in rank order, rounded once to float32 on store
      expect(out.first).toEqual(expected);
      expect(out.second).toEqual(expected);
      expect(out.scalars).toEqual([
        [0, 1],
        [1, 11],
        [2, 21],
      ]);
      expect(out.scalars2).toEqual([[-0], [-1], [-2]]);
    }
  });

  // the exact fixed-order mean of the contributions of ranks base … base + n − 1
  const meanOf = (n: number, base: number) =>
    lengths.map((len, s) =>
      Float32Array.from({ length: len }, (_, k) => {
        let sum = 0;
        for (let r = 0; r < n; r++) sum += contribution(base + r, s, k);
        return sum / n;
      }),
    );

  for (const worldSize of [2, 3]) {
    it(`keeps every round's mean exact over ${worldSize} ranks with new values and a different late rank each round`, async () => {
      const rounds = 12;
      // chunk 6: boundaries inside segments, 19 elements in 4 chunks, blocks of odd sizes per rank
      const outs = await runRanks(worldSize, lengths, 6, rounds);
      const expected = Array.from({ length: rounds }, (_, round) => meanOf(worldSize, worldSize * (round + 1)));
      for (const out of outs) expect(out.rounded).toEqual(expected);
    });
  }

  it('rejects outputs whose lengths differ from the inputs', () => {
    const reducer = new FixedOrderAllReduce(createSharedMemory(1, 4), 0);
    expect(() => reducer.meanInto([new Float32Array(3)], [new Float32Array(2)])).toThrow(ShapeError);
  });

  it('is the identity with one replica', async () => {
    const [out] = await runRanks(1, lengths, 4);
    expect(out?.first).toEqual(lengths.map((len, s) => Float32Array.from({ length: len }, (_, k) => contribution(0, s, k))));
  });

  it('wakes a waiting rank with ReplicaAbortedError when another aborts', () => {
    const memory = createSharedMemory(2, 4);
    const barrier = new SharedBarrier(memory);
    barrier.abort(1);
    expect(new Int32Array(memory.control)[CONTROL.abort]).toBe(2);
    expect(() => barrier.arrive()).toThrow(ReplicaAbortedError);
    expect(() => barrier.arrive()).toThrow(/worker 1 failed/);
  });
});
