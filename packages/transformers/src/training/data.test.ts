import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { BatchSource, chunkTokenStream, parseJsonlExamples, tokenizeExamples } from './data.js';

const encode = (text: string) => [1, ...Array.from(text, (c) => c.charCodeAt(0))];
const encodeRest = (text: string) => Array.from(text, (c) => c.charCodeAt(0));

describe('training data', () => {
  it('parses both JSONL record kinds and names the file and line on errors', () => {
    expect(parseJsonlExamples('{"text":"ab"}\n\n{"prompt":"p","completion":"c"}\n')).toEqual([{ text: 'ab' }, { prompt: 'p', completion: 'c' }]);
    expect(() => parseJsonlExamples('{"text":1}', 'train.jsonl')).toThrow(/line 1.*train\.jsonl/);
    expect(() => parseJsonlExamples('{oops', 'x.jsonl')).toThrow(ConfigError);
    expect(() => parseJsonlExamples('\n \n', 'empty.jsonl')).toThrow(/empty/);
  });

  it('scores only completion tokens of prompt/completion pairs', () => {
    const [text, pair] = tokenizeExamples([{ text: 'ab' }, { prompt: 'p', completion: 'cd' }], encode, encodeRest, 16);
    expect(Array.from(text!.lossMask)).toEqual([0, 1, 1]);
    expect(Array.from(pair!.ids)).toEqual([1, 112, 99, 100]);
    expect(Array.from(pair!.lossMask)).toEqual([0, 0, 1, 1]);
  });

  it('chunks streams and pads batches deterministically under a seed', () => {
    const windows = chunkTokenStream(
      Array.from({ length: 10 }, (_, i) => i),
      3,
    );
    expect(windows.map((w) => Array.from(w.ids))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
    ]);
    const examples = tokenizeExamples([{ text: 'a' }, { text: 'bcd' }, { text: 'ef' }], encode, encodeRest, 8);
    const a = new BatchSource(examples, { batchSize: 2, seed: 3 });
    const b = new BatchSource(examples, { batchSize: 2, seed: 3 });
    for (let cursor = 0; cursor < 5; cursor++) expect(b.batchAt(cursor)).toEqual(a.batchAt(cursor));
    const batch = a.batchAt(0);
    expect(batch.inputIds.length).toBe(batch.batch * batch.seq);
    for (let j = 0; j < batch.batch; j++) {
      const row = Array.from(batch.attentionMask.slice(j * batch.seq, (j + 1) * batch.seq));
      const real = row.filter((m) => m === 1).length;
      expect(row).toEqual([...Array(real).fill(1), ...Array(batch.seq - real).fill(0)]);
    }
    expect(batch.tokens).toBe(batch.lossMask.reduce((s, v) => s + v, 0));
  });
});
