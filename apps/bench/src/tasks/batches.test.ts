import { describe, expect, it } from 'vitest';
import { makeBatchSchedule, padRows } from './batches.js';
import type { TrainingSource } from './types.js';

const stream: TrainingSource = { kind: 'stream', ids: Int32Array.from({ length: 500 }, (_, i) => i) };
const rows: TrainingSource = {
  kind: 'rows',
  rows: Array.from({ length: 5 }, (_, i) => ({ ids: Array.from({ length: 2 + i }, () => 10 + i), targetMask: Array.from({ length: 2 + i }, () => 1) })),
};
const opts = { batchSize: 3, seqLen: 16, steps: 6, seed: 7, padId: 0 };

describe('makeBatchSchedule', () => {
  it('is a function of the seed only: same seed, same batches, in any call order (resume-safe)', () => {
    const a = makeBatchSchedule(stream, opts);
    const b = makeBatchSchedule(stream, opts);
    expect(b(4)).toEqual(a(4));
    expect(b(0)).toEqual(a(0));
    expect(makeBatchSchedule(stream, { ...opts, seed: 8 })(0)).not.toEqual(a(0));
  });

  it('stream rows are contiguous windows with every token but the first a target', () => {
    const batch = makeBatchSchedule(stream, opts)(2);
    for (let j = 0; j < 3; j++) {
      const row = batch.ids[j] as number[];
      expect(row).toHaveLength(16);
      expect(row.every((v, t) => t === 0 || v === (row[t - 1] as number) + 1)).toBe(true);
      expect(batch.lossMask[j]).toEqual([0, ...new Array<number>(15).fill(1)]);
    }
    expect(batch.targetTokens).toBe(45);
  });

  it('example rows run through seeded epochs, each example once per epoch', () => {
    const next = makeBatchSchedule(rows, { ...opts, batchSize: 5 });
    for (let s = 0; s < 3; s++) {
      const firsts = next(s)
        .ids.map((r) => r[0])
        .sort();
      expect(firsts).toEqual([10, 11, 12, 13, 14]);
    }
  });

  it('rejects out-of-range steps and too-short streams', () => {
    expect(() => makeBatchSchedule(stream, opts)(6)).toThrow(/out of range/);
    expect(() => makeBatchSchedule({ kind: 'stream', ids: new Int32Array(10) }, opts)).toThrow(/fewer than seq len/);
  });
});

describe('padRows', () => {
  it('right-pads with the pad id and never counts padding or position 0', () => {
    const batch = padRows(
      [
        { ids: [1, 2, 3], targetMask: [1, 1, 1] },
        { ids: [4], targetMask: [1] },
      ],
      9,
    );
    expect(batch.ids).toEqual([
      [1, 2, 3],
      [4, 9, 9],
    ]);
    expect(batch.lossMask).toEqual([
      [0, 1, 1],
      [0, 0, 0],
    ]);
    expect(batch.attentionMask).toEqual([
      [1, 1, 1],
      [1, 0, 0],
    ]);
    expect(batch.targetTokens).toBe(2);
  });
});
