import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';
import { meanNll } from '../eval/nll.js';
import { completionRow } from '../eval/label-scoring.js';
import type { BenchTokenizer, TokenRow } from '../model/types.js';
import { PERPLEXITY } from './shakespeare.js';
import type { MetricSpec, TaskDefinition } from './types.js';

/** A custom record: plain text (loss on every token) or prompt/completion (loss on the completion only). */
export type CustomRecord = { text: string } | { prompt: string; completion: string };

/** Mean NLL on the custom eval file (lower is better). */
export const CUSTOM_NLL: MetricSpec = {
  key: 'val_nll',
  label: 'eval NLL',
  better: 'lower',
  description: 'mean NLL per target token on the --eval file: every token of {text} records, only completion tokens of {prompt, completion} records',
};

/**
 * Parses a JSONL file of {@link CustomRecord}s. Throws {@link ConfigError}
 * naming the file (and line) when it is empty, a line is not JSON, or a
 * record has neither `text` nor `prompt` + `completion` strings.
 */
export function readCustomJsonl(file: string): CustomRecord[] {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read data file: ${(error as Error).message}`, { file });
  }
  const records: CustomRecord[] = [];
  raw.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ConfigError(`line ${i + 1} is not valid JSON`, { file });
    }
    const rec = value as Record<string, unknown>;
    if (typeof rec === 'object' && rec !== null && typeof rec['text'] === 'string') {
      records.push({ text: rec['text'] });
    } else if (typeof rec === 'object' && rec !== null && typeof rec['prompt'] === 'string' && typeof rec['completion'] === 'string') {
      records.push({ prompt: rec['prompt'], completion: rec['completion'] });
    } else {
      throw new ConfigError(`line ${i + 1}: expected {"text": string} or {"prompt": string, "completion": string}`, { file });
    }
  });
  if (records.length === 0) throw new ConfigError('data file is empty (no JSONL records)', { file });
  return records;
}

/** A record as a token row (BOS first; truncated to `maxLen`). */
export function customRow(tokenizer: BenchTokenizer, rec: CustomRecord, maxLen: number): TokenRow {
  if ('text' in rec) {
    const ids = tokenizer.encode(rec.text, { addBos: true }).slice(0, maxLen);
    return { ids, targetMask: ids.map((_, t) => (t === 0 ? 0 : 1)) };
  }
  return completionRow(tokenizer, rec.prompt, rec.completion, maxLen);
}

/** User data from `--data train.jsonl --eval eval.jsonl`. */
export const customTask: TaskDefinition = {
  name: 'custom',
  description:
    'Your data: --data train.jsonl --eval eval.jsonl, one {"text"} or {"prompt","completion"} record per line (loss only on the completion); metric: mean NLL per target token on the eval file.',
  metric: CUSTOM_NLL,
  realData: true,
  async load({ tokenizer, sizes, custom }) {
    if (custom === undefined) throw new ConfigError('task "custom" needs --data train.jsonl and --eval eval.jsonl');
    const train = readCustomJsonl(custom.train).map((r) => customRow(tokenizer, r, sizes.seqLen));
    const evalRows = readCustomJsonl(custom.eval).map((r) => customRow(tokenizer, r, sizes.seqLen));
    return {
      name: 'custom',
      metric: CUSTOM_NLL,
      secondary: [PERPLEXITY],
      train: { kind: 'rows', rows: train },
      sources: [custom.train, custom.eval],
      // target tokens, as for the other NLL tasks
      evalSize: evalRows.reduce((n, r) => n + r.targetMask.filter((m, t) => t > 0 && m === 1).length, 0),
      async evaluate(model) {
        const { nll } = await meanNll(model, evalRows);
        return { val_nll: nll, perplexity: Math.exp(nll) };
      },
    };
  },
};
