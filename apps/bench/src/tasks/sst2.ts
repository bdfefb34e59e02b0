import { Rng } from '@tsd-peft/core';
import { completionRow, labelScoringAccuracy, type LabelExample } from '../eval/label-scoring.js';
import { readSentenceTsv, type LabelledSentence } from './tsv.js';
import type { MetricSpec, TaskDefinition } from './types.js';

/** Label strings, indexed by the GLUE label (0 negative, 1 positive); the leading space makes them words. */
export const SST2_LABELS = [' negative', ' positive'] as const;

/** Seed of the fixed subset choice: the evaluation set never depends on a run seed. */
const SUBSET_SEED = 2409;

/** The prompt shown before the label. */
export function sst2Prompt(sentence: string): string {
  return `Review: ${sentence}\nSentiment:`;
}

/** Label-scoring accuracy on the SST-2 dev set (higher is better). */
export const SST2_ACCURACY: MetricSpec = {
  key: 'accuracy',
  label: 'accuracy',
  better: 'higher',
  description:
    'SST-2 dev accuracy by label-token scoring: the prediction is the label whose string (" positive" / " negative") has the higher total log-probability after "Review: <sentence>\\nSentiment:"; ties count as wrong',
};

/** A fixed pseudo-random subset of `n` items (all when n ≥ length), in a seed-independent order. */
export function fixedSubset<T>(items: readonly T[], n: number, seed = SUBSET_SEED): T[] {
  const order = Rng.fromSeed(seed).shuffle(items.map((_, i) => i));
  return order.slice(0, Math.min(n, items.length)).map((i) => items[i] as T);
}

/** SST-2 sentiment as label scoring. */
export const sst2Task: TaskDefinition = {
  name: 'sst2',
  description:
    'Sentiment (GLUE SST-2): train with the loss on the label word after "Review: <sentence>\\nSentiment:" on a fixed subset of train.tsv; metric: label-token scoring accuracy on (a fixed subset of) dev.tsv — the label with the higher log-probability wins.',
  metric: SST2_ACCURACY,
  realData: true,
  async load({ tokenizer, sizes, resolveDataset }) {
    const trainFile = await resolveDataset('sst2-train');
    const devFile = await resolveDataset('sst2-dev');
    const train = fixedSubset(readSentenceTsv(trainFile), sizes.trainExamples);
    const dev = fixedSubset(readSentenceTsv(devFile), sizes.evalExamples);
    const rows = train.map((ex: LabelledSentence) => completionRow(tokenizer, sst2Prompt(ex.sentence), SST2_LABELS[ex.label] as string, sizes.seqLen));
    const examples: LabelExample[] = dev.map((ex) => ({ prompt: sst2Prompt(ex.sentence), label: ex.label }));
    return {
      name: 'sst2',
      metric: SST2_ACCURACY,
      secondary: [],
      train: { kind: 'rows', rows },
      sources: [trainFile, devFile],
      evalSize: examples.length,
      async evaluate(model) {
        const { accuracy } = await labelScoringAccuracy(model, tokenizer, examples, SST2_LABELS, sizes.seqLen);
        return { accuracy };
      },
    };
  },
};
