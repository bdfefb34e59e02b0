import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { DATASETS, makeDatasetResolver } from './datasets.js';
import { shakespeareTask, tinyStoriesRetentionTask } from './shakespeare.js';
import { SST2_LABELS, fixedSubset, sst2Task } from './sst2.js';
import { readSentenceTsv } from './tsv.js';
import type { TaskContext } from './types.js';

const tok = charTokenizer();
const V = tok.vocabSize;
const uniform = new BigramModel(V, new Float64Array(V * V));
const ctx = (over: Partial<TaskContext['sizes']> = {}): TaskContext => ({
  tokenizer: tok,
  sizes: { seqLen: 64, evalTokens: 1000, evalExamples: 40, trainExamples: 30, ...over },
  resolveDataset: makeDatasetResolver({ offline: true }),
});

describe('real-data tasks (fixtures)', () => {
  it('the resolver reads the fixtures folder first', async () => {
    expect(await makeDatasetResolver({ offline: true })('sst2-dev')).toBe(fixturePath('data', 'sst2', 'dev.tsv'));
  });

  it('shakespeare: trains on the 90% split and evaluates NLL = log V under a uniform model', async () => {
    const task = await shakespeareTask.load(ctx());
    const text = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8');
    expect(task.train.kind === 'stream' && task.train.ids.length / text.length).toBeCloseTo(0.9, 3);
    expect(task.evalSize).toBe(1000);
    const res = await task.evaluate(uniform);
    expect(res['val_nll']).toBeCloseTo(Math.log(V), 12);
    expect(res['perplexity']).toBeCloseTo(V, 8);
    expect(res['retention_nll']).toBeCloseTo(Math.log(V), 12);
  });

  it('tinystories-retention reports TinyStories NLL as its metric', async () => {
    const task = await tinyStoriesRetentionTask.load(ctx());
    expect(task.metric.key).toBe('retention_nll');
    expect(Object.keys(await task.evaluate(uniform)).sort()).toEqual(['perplexity', 'retention_nll', 'val_nll']);
  });

  it('sst2: 872 dev rows; the eval subset is fixed; training targets are the label words', async () => {
    const dev = readSentenceTsv(fixturePath('data', 'sst2', 'dev.tsv'));
    expect(dev).toHaveLength(872);
    expect(dev[0]).toEqual({ sentence: "it 's a charming and often affecting journey .", label: 1 });
    const task = await sst2Task.load(ctx());
    if (task.train.kind !== 'rows') throw new Error('sst2 trains on rows');
    const labels = task.train.rows.map((r) => tok.decode(r.ids.filter((_, t) => r.targetMask[t] === 1)));
    expect(new Set(labels)).toEqual(new Set(SST2_LABELS));
    // " negative" and " positive" have 9 chars each: a uniform model ties on every example, and ties count as wrong
    expect(await task.evaluate(uniform)).toEqual({ accuracy: 0 });
    // a model that prefers "p" after a space always says positive: accuracy = share of positives in the fixed subset
    const logits = new Float64Array(V * V);
    logits[(' '.charCodeAt(0) + 3) * V + 'p'.charCodeAt(0) + 3] = 1;
    const positives = fixedSubset(dev, 40).filter((e) => e.label === 1).length;
    expect(positives).toBeGreaterThan(5);
    expect(await task.evaluate(new BigramModel(V, logits))).toEqual({ accuracy: positives / 40 });
  });
});

describe('downloads when the fixtures are absent', () => {
  const saved = process.env['TSD_FIXTURES'];
  afterEach(() => {
    if (saved === undefined) delete process.env['TSD_FIXTURES'];
    else process.env['TSD_FIXTURES'] = saved;
  });

  it('offline: fails at once with a message naming the URL and what to do', async () => {
    process.env['TSD_FIXTURES'] = mkdtempSync(join(tmpdir(), 'tsd-nofix-'));
    const resolve = makeDatasetResolver({ offline: true, cacheDir: mkdtempSync(join(tmpdir(), 'tsd-cache-')) });
    await expect(resolve('tinyshakespeare')).rejects.toThrow(
      /offline mode .*cannot download https:\/\/raw\.githubusercontent\.com.*input\.txt; put the file at data\/tinyshakespeare\/input\.txt under TSD_FIXTURES/,
    );
  });

  it('fetches SST-2 pages from the datasets-server API into a cached TSV', async () => {
    process.env['TSD_FIXTURES'] = mkdtempSync(join(tmpdir(), 'tsd-nofix-'));
    const cacheDir = mkdtempSync(join(tmpdir(), 'tsd-cache-'));
    const urls: string[] = [];
    const fetchImpl = async (url: string) => {
      urls.push(url);
      const offset = Number(/offset=(\d+)/.exec(url)?.[1]);
      const rows = Array.from({ length: 100 }, (_, i) => ({ row: { sentence: `s\t${offset + i}`, label: (offset + i) % 2 } }));
      return { ok: true, status: 200, statusText: 'OK', arrayBuffer: async () => new TextEncoder().encode(JSON.stringify({ rows })).buffer as ArrayBuffer };
    };
    const resolve = makeDatasetResolver({ offline: false, cacheDir, fetchImpl, sst2TrainRows: 250 });
    const path = await resolve('sst2-train');
    expect(path).toBe(join(cacheDir, DATASETS['sst2-train'].cache));
    expect(urls).toHaveLength(3);
    expect(urls[2]).toContain('offset=200&length=50');
    const rows = readSentenceTsv(path);
    expect(rows).toHaveLength(300); // the stub ignores `length`; pages are kept whole
    expect(rows[1]).toEqual({ sentence: 's 1', label: 1 });
    await resolve('sst2-train'); // cached: no new requests
    expect(urls).toHaveLength(3);
  });

  it('a network failure becomes one clear error, not a hang', async () => {
    process.env['TSD_FIXTURES'] = mkdtempSync(join(tmpdir(), 'tsd-nofix-'));
    const fetchImpl = async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } });
    };
    const resolve = makeDatasetResolver({ offline: false, cacheDir: mkdtempSync(join(tmpdir(), 'tsd-cache-')), fetchImpl });
    await expect(resolve('tinystories-val')).rejects.toThrow(/could not download https:\/\/huggingface\.co\/datasets\/roneneldan\/TinyStories.*fetch failed \(ENOTFOUND\)/);
  });
});
