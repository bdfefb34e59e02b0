import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';
import { parseJsonlExamples, type TrainingExample } from '@tsd-peft/transformers';
import { meanNll } from '../eval/nll.js';
import { completionRow, labelScoringAccuracy, type LabelExample } from '../eval/label-scoring.js';
import type { BenchTokenizer, ScoringModel, TokenRow } from '../model/types.js';
import { closedLabelSet, majorityClass } from './closed-set.js';
import { CustomDataError } from './custom-errors.js';
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

/** A record with the 1-based line it came from. */
export interface NumberedRecord {
  record: CustomRecord;
  line: number;
}

const shapeOf = (r: CustomRecord): string => ('text' in r ? '{"text"}' : '{"prompt", "completion"}');

/**
 * Reads a JSONL file of {@link CustomRecord}s with the same parser as
 * `tsd-peft train`, keeping each record's line. Throws {@link ConfigError}
 * naming the file (and line) when it is unreadable, empty, not JSON, or a
 * record has neither `text` nor `prompt` + `completion` strings, and a
 * {@link CustomDataError} for an empty text or completion or a record whose
 * shape differs from the file's first record.
 */
export function readCustomRecords(file: string): NumberedRecord[] {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read data file: ${(error as Error).message}`, { file });
  }
  const records = parseJsonlExamples(raw, file);
  // parseJsonlExamples skips blank lines; number the rest the same way.
  const lines = raw.split(/\r?\n/).flatMap((l, i) => (l.trim() === '' ? [] : [i + 1]));
  const out = records.map((record, i) => ({ record, line: lines[i] as number }));
  const first = out[0] as NumberedRecord;
  for (const { record, line } of out) {
    if (shapeOf(record) !== shapeOf(first.record)) {
      throw new CustomDataError(`is a ${shapeOf(record)} record but line ${first.line} is ${shapeOf(first.record)}; use one record shape per file`, file, line);
    }
    if ('text' in record && record.text.trim() === '') throw new CustomDataError('has an empty "text"', file, line);
    if ('completion' in record && record.completion.trim() === '') {
      throw new CustomDataError('has an empty "completion" (the loss is taken on the completion only, so there would be nothing to learn or score)', file, line);
    }
  }
  return out;
}

/** {@link readCustomRecords} without the line numbers. */
export function readCustomJsonl(file: string): CustomRecord[] {
  return readCustomRecords(file).map((r) => r.record);
}

/**
 * The token row of a record, or a {@link CustomDataError} naming its line
 * when a `{prompt, completion}` record does not fit `seqLen` whole (BOS +
 * prompt + completion): truncating the prompt would silently train and score
 * on a different question. `{text}` records are cut at `seqLen`, like any
 * language-model window.
 */
export function checkedRow(tokenizer: BenchTokenizer, { record, line }: NumberedRecord, seqLen: number, file: string): TokenRow {
  if ('prompt' in record) {
    const length = (tokenizer.bosId === null ? 0 : 1) + tokenizer.encode(record.prompt, { addBos: false }).length + tokenizer.encode(record.completion, { addBos: false }).length;
    if (length > seqLen) {
      throw new CustomDataError(`prompt + completion are ${length} tokens (with BOS), longer than --seq-len ${seqLen}; shorten the prompt or raise --seq-len`, file, line);
    }
  }
  return customRow(tokenizer, record, seqLen);
}

/** A record as a token row (BOS first; truncated to `maxLen`). */
export function customRow(tokenizer: BenchTokenizer, rec: CustomRecord, maxLen: number): TokenRow {
  if ('text' in rec) {
    const ids = tokenizer.encode(rec.text, { addBos: true }).slice(0, maxLen);
    return { ids, targetMask: ids.map((_, t) => (t === 0 ? 0 : 1)) };
  }
  return completionRow(tokenizer, rec.prompt, rec.completion, maxLen);
}

/** Label-scoring accuracy on a labelled custom eval file (higher is better). */
export const CUSTOM_ACCURACY: MetricSpec = {
  key: 'accuracy',
  label: 'accuracy',
  better: 'higher',
  description:
    'accuracy on the --eval file by label scoring: its completions form a closed set of at most 20 labels, and the prediction is the label with the highest total log-probability after the prompt; ties count as wrong',
};

/** User data from `--data train.jsonl --eval eval.jsonl`. */
export const customTask: TaskDefinition = {
  name: 'custom',
  description:
    'Your data: --data train.jsonl --eval eval.jsonl, one {"text"} or {"prompt","completion"} record per line (loss only on the completion); metric: mean NLL per target token on the eval file, or, when the eval completions form a closed set of at most 20 labels, label-scoring accuracy (NLL secondary) next to the majority-class baseline.',
  metric: CUSTOM_NLL,
  realData: true,
  async load({ tokenizer, sizes, custom }) {
    if (custom === undefined) throw new ConfigError('task "custom" needs --data train.jsonl and --eval eval.jsonl');
    const trainRecords = readCustomRecords(custom.train);
    const evalRecords = readCustomRecords(custom.eval);
    const train = trainRecords.map((r) => checkedRow(tokenizer, r, sizes.seqLen, custom.train));
    const evalRows = evalRecords.map((r) => checkedRow(tokenizer, r, sizes.seqLen, custom.eval));
    const nllOf = async (model: ScoringModel): Promise<Record<string, number>> => {
      const { nll } = await meanNll(model, evalRows);
      return { val_nll: nll, perplexity: Math.exp(nll) };
    };
    const base = { name: 'custom' as const, train: { kind: 'rows' as const, rows: train }, sources: [custom.train, custom.eval] };
    const labels = closedLabelSet(evalRecords.map((r) => r.record));
    if (labels === null) {
      return {
        ...base,
        metric: CUSTOM_NLL,
        secondary: [PERPLEXITY],
        // target tokens, as for the other NLL tasks
        evalSize: evalRows.reduce((n, r) => n + r.targetMask.filter((m, t) => t > 0 && m === 1).length, 0),
        evaluate: nllOf,
      };
    }
    const examples: LabelExample[] = evalRecords.map(({ record }) => ({
      prompt: (record as { prompt: string }).prompt,
      label: labels.indexOf((record as { completion: string }).completion),
    }));
    return {
      ...base,
      metric: CUSTOM_ACCURACY,
      secondary: [CUSTOM_NLL, PERPLEXITY],
      evalSize: examples.length,
      labels,
      majorityClass: majorityClass(
        labels,
        trainRecords.map((r) => r.record),
        examples.map((e) => labels[e.label] as string),
      ),
      async evaluate(model) {
        const { accuracy } = await labelScoringAccuracy(model, tokenizer, examples, labels, sizes.seqLen);
        return { accuracy, ...(await nllOf(model)) };
      },
    };
  },
};
