import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { evalWindows, meanNll, scoreInChunks } from './nll.js';

describe('evalWindows', () => {
  it('covers the first maxTokens tokens with non-overlapping windows, first token of each not a target', () => {
    const ids = Int32Array.from({ length: 23 }, (_, i) => i);
    const rows = evalWindows(ids, 8, 21);
    expect(rows.map((r) => r.ids[0])).toEqual([0, 8, 16]);
    expect(rows.map((r) => r.ids.length)).toEqual([8, 8, 5]);
    expect(rows[2]?.targetMask).toEqual([0, 1, 1, 1, 1]);
  });

  it('drops a 1-token tail, which has no target', () => {
    const rows = evalWindows(Int32Array.from([1, 2, 3, 4, 5]), 4, 5);
    expect(rows.map((r) => r.ids)).toEqual([[1, 2, 3, 4]]);
  });
});

describe('meanNll', () => {
  it('is log(V) under a uniform model (exact: every target has p = 1/V)', async () => {
    const model = new BigramModel(7, new Float64Array(49));
    const rows = evalWindows(Int32Array.from([1, 2, 3, 4, 5, 6, 0, 1, 2]), 4, 100);
    const { nll, tokens } = await meanNll(model, rows);
    expect(tokens).toBe(3 + 3 + 0 + 0); // windows [1..4],[5,6,0,1],[2]→dropped
    expect(nll).toBeCloseTo(Math.log(7), 12);
  });

  it('weights rows by their target count and matches a hand computation', async () => {
    const logits = new Float64Array(9);
    logits[0 * 3 + 1] = 2; // p(1|0) = e²/(e²+2)
    const model = new BigramModel(3, logits);
    const rows = [
      { ids: [0, 1, 0, 1], targetMask: [0, 1, 1, 1] },
      { ids: [2, 2], targetMask: [0, 1] },
    ];
    const p01 = Math.exp(2) / (Math.exp(2) + 2);
    const expected = (-Math.log(p01) * 2 + Math.log(3) + Math.log(3)) / 4;
    expect((await meanNll(model, rows)).nll).toBeCloseTo(expected, 12);
  });

  it('scores in chunks and keeps the row order', async () => {
    const model = new BigramModel(3, new Float64Array(9));
    const rows = Array.from({ length: 19 }, (_, i) => ({ ids: [0, 1, 2].slice(0, 1 + (i % 3)), targetMask: [0, 1, 1] }));
    const scores = await scoreInChunks(model, rows, 8);
    expect(model.calls).toEqual([8, 8, 3]);
    expect(scores.map((s) => s.count)).toEqual(rows.map((r) => r.ids.length - 1));
  });
});
