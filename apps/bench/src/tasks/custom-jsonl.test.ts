import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { CustomDataError } from './custom-errors.js';
import { customRow, customTask, readCustomJsonl, readCustomRecords } from './custom-jsonl.js';

const dir = mkdtempSync(join(tmpdir(), 'tsd-custom-'));
const file = (name: string, body: string): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};
const loadCustom = (train: string, evalFile: string, seqLen = 64): ReturnType<typeof customTask.load> =>
  customTask.load({
    tokenizer: charTokenizer(),
    sizes: { seqLen, evalTokens: 0, evalExamples: 0, trainExamples: 0 },
    resolveDataset: () => Promise.reject(new Error('unused')),
    custom: { train, eval: evalFile },
  });

describe('readCustomJsonl', () => {
  it('reads {text} and {prompt, completion} records, skipping blank lines', () => {
    expect(readCustomJsonl(file('ok.jsonl', '{"text":"hi"}\n\n{"text":"yo"}\n'))).toEqual([{ text: 'hi' }, { text: 'yo' }]);
    expect(readCustomJsonl(file('ok2.jsonl', '{"prompt":"q","completion":" a"}\n'))).toEqual([{ prompt: 'q', completion: ' a' }]);
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

describe('bad custom data', () => {
  const line = (path: string): number => {
    try {
      readCustomJsonl(path);
    } catch (error) {
      if (error instanceof CustomDataError) return error.line;
    }
    throw new Error('expected a CustomDataError');
  };

  it('rejects an empty completion or text, naming file and line (blank lines counted)', () => {
    const path = file('empty-completion.jsonl', '{"prompt":"a","completion":" x"}\n\n{"prompt":"b","completion":""}\n');
    expect(() => readCustomJsonl(path)).toThrow(`line 3: has an empty "completion"`);
    expect(() => readCustomJsonl(path)).toThrow(`(file ${path})`);
    expect(line(path)).toBe(3);
    expect(line(file('blank-completion.jsonl', '{"prompt":"b","completion":"  "}\n'))).toBe(1);
    expect(() => readCustomJsonl(file('empty-text.jsonl', '{"text":"ok"}\n{"text":""}\n'))).toThrow('line 2: has an empty "text"');
  });

  it('rejects mixed record shapes, naming both lines', () => {
    const path = file('mixed.jsonl', '{"prompt":"a","completion":" x"}\n{"prompt":"a","completion":" y"}\n{"text":"free text"}\n');
    expect(() => readCustomJsonl(path)).toThrow('line 3: is a {"text"} record but line 1 is {"prompt", "completion"}; use one record shape per file');
    expect(readCustomRecords(file('lines.jsonl', '\n{"text":"a"}\n\n{"text":"b"}\n')).map((r) => r.line)).toEqual([2, 4]);
  });

  it('rejects a prompt that does not fit --seq-len instead of cutting it', async () => {
    const evalPath = file('long.jsonl', '{"prompt":"ab","completion":" x"}\n{"prompt":"abcdefghij","completion":" x"}\n');
    const load = loadCustom(file('short.jsonl', '{"prompt":"ab","completion":" x"}\n'), evalPath, 8);
    await expect(load).rejects.toThrow(CustomDataError);
    await expect(load).rejects.toThrow(`line 2: prompt + completion are 13 tokens (with BOS), longer than --seq-len 8; shorten the prompt or raise --seq-len (file ${evalPath})`);
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
    const task = await loadCustom(file('t.jsonl', '{"text":"hello"}\n'), file('e.jsonl', '{"prompt":"x","completion":"yz"}\n'));
    const V = tok.vocabSize;
    const res = await task.evaluate(new BigramModel(V, new Float64Array(V * V)));
    expect(res['val_nll']).toBeCloseTo(Math.log(V), 12);
    expect(res['perplexity']).toBeCloseTo(V, 9);
  });

  it('scores a labelled eval file by label: accuracy, majority-class baseline, NLL secondary', async () => {
    const tok = charTokenizer();
    const V = tok.vocabSize;
    const id = (c: string): number => c.charCodeAt(0) + 3;
    const jsonl = (pairs: string[][]): string => pairs.map(([p, c]) => JSON.stringify({ prompt: p, completion: c })).join('\n');
    const task = await loadCustom(
      file(
        'cls-train.jsonl',
        jsonl([
          ['q', 'o'],
          ['q', 'o'],
          ['q', 'n'],
        ]),
      ),
      file(
        'cls-eval.jsonl',
        jsonl([
          ['xA', 'n'],
          ['yB', 'o'],
          ['zB', 'n'],
          ['wA', 'n'],
        ]),
      ),
    );
    expect(task.metric.key).toBe('accuracy');
    expect(task.metric.better).toBe('higher');
    expect(task.secondary.map((m) => m.key)).toEqual(['val_nll', 'perplexity']);
    expect(task.labels).toEqual(['n', 'o']);
    expect(task.evalSize).toBe(4);
    expect(task.majorityClass).toEqual({ label: 'o', accuracy: 0.25 });
    const logits = new Float64Array(V * V);
    logits[id('A') * V + id('n')] = 3; // after "A" the model says "n"
    logits[id('B') * V + id('o')] = 3; // after "B" it says "o": wrong on "zB" → "n"
    const res = await task.evaluate(new BigramModel(V, logits));
    expect(res['accuracy']).toBe(3 / 4);
    // three completions have logit 3, one ("zB" → "n") logit 0: NLL = log(e³ + V − 1) − 3·¾
    expect(res['val_nll']).toBeCloseTo(Math.log(Math.exp(3) + V - 1) - 2.25, 12);
  });

  it('keeps NLL as the metric for free-form completions', async () => {
    const task = await loadCustom(file('gen-t.jsonl', '{"prompt":"a","completion":" b"}\n'), file('gen-e.jsonl', '{"prompt":"a","completion":" b"}\n{"prompt":"c","completion":" d"}\n'));
    expect(task.metric.key).toBe('val_nll');
    expect(task.majorityClass).toBeUndefined();
  });
});
