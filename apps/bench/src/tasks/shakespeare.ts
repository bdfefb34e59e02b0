import { readFileSync } from 'node:fs';
import { evalWindows, meanNll } from '../eval/nll.js';
import type { BenchTokenizer } from '../model/types.js';
import { stripEndOfText, trainValSplit } from './text-split.js';
import type { DatasetResolver, LoadedTask, MetricSpec, TaskContext, TaskDefinition } from './types.js';

/** Mean NLL on held-out tinyshakespeare (lower is better). */
export const VAL_NLL: MetricSpec = {
  key: 'val_nll',
  label: 'val NLL',
  better: 'lower',
  description: 'mean next-token NLL (nats/token) over non-overlapping windows of the held-out last 10% of tinyshakespeare',
};

/** exp(val NLL). */
export const PERPLEXITY: MetricSpec = {
  key: 'perplexity',
  label: 'perplexity',
  better: 'lower',
  description: 'exp(val NLL)',
};

/** Mean NLL on the TinyStories validation sample: the model's original domain. */
export const RETENTION_NLL: MetricSpec = {
  key: 'retention_nll',
  label: 'TinyStories NLL',
  better: 'lower',
  description: 'mean next-token NLL on the TinyStories validation sample (the pretraining domain); a rise is forgetting',
};

/** Token ids of the tinyshakespeare train and validation parts (BOS-free, tokenized as whole texts). */
export async function loadShakespeareIds(tokenizer: BenchTokenizer, resolve: DatasetResolver): Promise<{ train: Int32Array; val: Int32Array; file: string }> {
  const file = await resolve('tinyshakespeare');
  const { train, val } = trainValSplit(readFileSync(file, 'utf8'));
  return {
    train: Int32Array.from(tokenizer.encode(train, { addBos: false })),
    val: Int32Array.from(tokenizer.encode(val, { addBos: false })),
    file,
  };
}

/** The first `maxChars` of the TinyStories validation text, tokenized BOS-free. */
export async function loadTinyStoriesIds(tokenizer: BenchTokenizer, resolve: DatasetResolver, maxTokens: number): Promise<{ ids: Int32Array; file: string }> {
  const file = await resolve('tinystories-val');
  // ~4 characters per token on TinyStories; read a margin beyond maxTokens, not all 19 MB of the hub file.
  const text = stripEndOfText(readFileSync(file, 'utf8')).slice(0, Math.max(4096, maxTokens * 8));
  return { ids: Int32Array.from(tokenizer.encode(text, { addBos: false })), file };
}

async function loadAdaptation(ctx: TaskContext, primary: 'shakespeare' | 'tinystories-retention'): Promise<LoadedTask> {
  const { tokenizer, sizes, resolveDataset } = ctx;
  const shakespeare = await loadShakespeareIds(tokenizer, resolveDataset);
  const stories = await loadTinyStoriesIds(tokenizer, resolveDataset, sizes.evalTokens);
  const valRows = evalWindows(shakespeare.val, sizes.seqLen, sizes.evalTokens);
  const storyRows = evalWindows(stories.ids, sizes.seqLen, sizes.evalTokens);
  const metric = primary === 'shakespeare' ? VAL_NLL : RETENTION_NLL;
  const secondary = primary === 'shakespeare' ? [PERPLEXITY, RETENTION_NLL] : [VAL_NLL, PERPLEXITY];
  return {
    name: primary,
    metric,
    secondary,
    train: { kind: 'stream', ids: shakespeare.train },
    sources: [shakespeare.file, stories.file],
    evalSize: Math.min(shakespeare.val.length, sizes.evalTokens),
    async evaluate(model) {
      const val = await meanNll(model, valRows);
      const retention = await meanNll(model, storyRows);
      return { val_nll: val.nll, perplexity: Math.exp(val.nll), retention_nll: retention.nll };
    },
  };
}

/** Domain adaptation to Shakespeare; metric: held-out val NLL (and perplexity, and TinyStories NLL). */
export const shakespeareTask: TaskDefinition = {
  name: 'shakespeare',
  description:
    'Domain adaptation: train on contiguous windows of the first 90% of tinyshakespeare (cut at a blank line); metric: mean NLL per token on non-overlapping windows of the held-out 10% (also perplexity = exp NLL, and TinyStories NLL for forgetting).',
  metric: VAL_NLL,
  realData: true,
  load: (ctx) => loadAdaptation(ctx, 'shakespeare'),
};

/** Forgetting: NLL on TinyStories after adapting to Shakespeare. */
export const tinyStoriesRetentionTask: TaskDefinition = {
  name: 'tinystories-retention',
  description:
    'Forgetting: train exactly as `shakespeare`, then measure mean NLL per token on the TinyStories validation sample (the pretraining domain of stories260K); lower means less forgetting. Shakespeare val NLL is recorded too.',
  metric: RETENTION_NLL,
  realData: true,
  load: (ctx) => loadAdaptation(ctx, 'tinystories-retention'),
};
