import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { customRow, customTask, readCustomJsonl } from './custom-jsonl.js';

const dir = mkdtempSync(join(tmpdir(), 'tsd-custom-'));
const file = (name: string, body: string): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};

describe('readCustomJsonl', () => {
  it('reads {text} and {prompt, completion} records, skipping blank lines', () => {
    const path = file('ok.jsonl', '{"text":"hi"}\n\n{"prompt":"q","completion":" a"}\n');
    expect(readCustomJsonl(path)).toEqual([{ text: 'hi' }, { prompt: 'q', completion: ' a' }]);
  });

  it('rejects an empty file, naming it', () => {
    const path = file('empty.jsonl', '\n\n');
    expect(() => readCustomJsonl(path)).toThrow(ConfigError);
    expect(() => readCustomJsonl(path)).toThrow(`no training examples (the file is empty) (file ${path})`);
  });

  it('names the line of a bad record', () => {
    expect(() => readCustomJsonl(file('bad.jsonl', '{"text":"x"}\n{"prompt":"q"}\n'))).toThrow(/line 2 needs/);
    expect(() => readCustomJsonl(file('bad2.jsonl', 'nope\n'))).toThrow(/line 1 is not valid JSON/);
    expect(() => readCustomJsonl(join(dir, 'missing.jsonl'))).toThrow(/cannot read data file/);
  });
});

describe('customTask', () => {
  it('{text} rows count every token; {prompt, completion} rows only the completion', () => {
    const tok = charTokenizer();
    expect(customRow(tok, { text: 'abc' }, 64).targetMask).toEqual([0, 1, 1, 1]);
    expect(customRow(tok, { prompt: 'ab', completion: 'c' }, 64).targetMask).toEqual([0, 0, 0, 1]);
  });

  it('evaluates mean NLL over eval targets (log V for a uniform model)', async () => {
    const tok = charTokenizer();
    const task = await customTask.load({
      tokenizer: tok,
      sizes: { seqLen: 64, evalTokens: 0, evalExamples: 0, trainExamples: 0 },
      resolveDataset: () => Promise.reject(new Error('unused')),
      custom: { train: file('t.jsonl', '{"text":"hello"}\n'), eval: file('e.jsonl', '{"prompt":"x","completion":"yz"}\n') },
    });
    const V = tok.vocabSize;
    const res = await task.evaluate(new BigramModel(V, new Float64Array(V * V)));
    expect(res['val_nll']).toBeCloseTo(Math.log(V), 12);
    expect(res['perplexity']).toBeCloseTo(V, 9);
  });
});
