import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';
import { parseJsonlExamples, type TrainingExample } from '@tsd-peft/transformers';
import { meanNll } from '../eval/nll.js';
import { completionRow } from '../eval/label-scoring.js';
import type { BenchTokenizer, TokenRow } from '../model/types.js';
import { PERPLEXITY } from './shakespeare.js';
import type { MetricSpec, TaskDefinition } from './types.js';

/** A custom record: plain text (loss on every token) or prompt/completion (loss on the completion only). */
export type CustomRecord = TrainingExample;

/** Mean NLL on the custom eval file (lower is better). */
export const CUSTOM_NLL: MetricSpec = {
  key: 'val_nll',
  label: 'eval NLL',
  better: 'lower',
  description: 'mean NLL per target token on the --eval file: every token of {text} records, only completion tokens of {prompt, completion} records',
};

/**
 * Reads a JSONL file of {@link CustomRecord}s with the same parser as
 * `tsd-peft train`. Throws {@link ConfigError} naming the file (and line)
 * when it is unreadable, empty, not JSON, or a record has neither `text`
 * nor `prompt` + `completion` strings.
 */
export function readCustomJsonl(file: string): CustomRecord[] {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read data file: ${(error as Error).message}`, { file });
  }
  return parseJsonlExamples(raw, file);
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
