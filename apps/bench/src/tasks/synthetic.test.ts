import { Rng } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { additionExample, additionTask, generateExamples, reversalExample, reversalTask } from './synthetic.js';
import type { TaskContext } from './types.js';

const ctx = (trainExamples: number, evalExamples: number): TaskContext => ({
  tokenizer: charTokenizer(),
  sizes: { seqLen: 32, evalTokens: 0, evalExamples, trainExamples },
  resolveDataset: () => Promise.reject(new Error('synthetic tasks read no files')),
});

describe('synthetic generators', () => {
  it('addition answers are the sums of two 2-digit numbers', () => {
    const rng = Rng.fromSeed(3);
    for (let i = 0; i < 200; i++) {
      const { prompt, answer } = additionExample(rng);
      const m = /^(\d\d)\+(\d\d)=$/.exec(prompt);
      expect(m).not.toBeNull();
      expect(Number(answer)).toBe(Number(m?.[1]) + Number(m?.[2]));
    }
  });

  it('reversal answers are the prompt words reversed', () => {
    const { prompt, answer } = reversalExample(Rng.fromSeed(5));
    const words = prompt
      .replace(/^reverse: /, '')
      .replace(/ =$/, '')
      .split(' ');
    expect(answer.split(' ')).toEqual([...words].reverse());
  });

  it('generated sets are deterministic and the eval set is disjoint from training', async () => {
    const train = generateExamples(additionExample, 300, 11);
    expect(generateExamples(additionExample, 300, 11)).toEqual(train);
    expect(new Set(train.map((e) => e.prompt)).size).toBe(300);
    const evalSet = generateExamples(additionExample, 100, 12, new Set(train.map((e) => e.prompt)));
    expect(evalSet.some((e) => train.some((t) => t.prompt === e.prompt))).toBe(false);
  });
});

describe('synthetic tasks', () => {
  it('train rows carry the loss on " answer\\n" only; exact match is 0 for a uniform model', async () => {
    const task = await reversalTask.load(ctx(20, 5));
    expect(task.train.kind).toBe('rows');
    if (task.train.kind !== 'rows') return;
    const row = task.train.rows[0];
    if (row === undefined) throw new Error('no rows');
    const tok = charTokenizer();
    const completion = tok.decode(row.ids.filter((_, t) => row.targetMask[t] === 1));
    expect(completion).toMatch(/^ \w+ \w+ \w+\n$/);
    const V = tok.vocabSize;
    const res = await task.evaluate(new BigramModel(V, new Float64Array(V * V)));
    expect(res).toEqual({ exact_match: 0 });
  });

  it('addition loads the requested sizes', async () => {
    const task = await additionTask.load(ctx(50, 10));
    expect(task.evalSize).toBe(10);
    expect(task.train.kind === 'rows' && task.train.rows.length).toBe(50);
  });
});
