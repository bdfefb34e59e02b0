import type { BenchTokenizer, ScoringModel, TokenRow } from '../model/types.js';
import { scoreInChunks } from './nll.js';

/** A classification example scored by comparing the log-probability of label strings. */
export interface LabelExample {
  prompt: string;
  /** Index into the label list of the correct label. */
  label: number;
}

/**
 * The row `[BOS] prompt completion` with targets on the completion tokens only.
 * Prompt and completion are tokenized separately and concatenated, so the
 * boundary is exact whatever the tokenizer does at word starts; completions
 * start with a space so that "▁word" pieces appear as in running text. When
 * the row exceeds `maxLen`, prompt tokens are dropped from the left (after
 * BOS) so the completion is always whole.
 */
export function completionRow(tokenizer: BenchTokenizer, prompt: string, completion: string, maxLen: number): TokenRow {
  const head = tokenizer.bosId === null ? [] : [tokenizer.bosId];
  let promptIds = tokenizer.encode(prompt, { addBos: false });
  const completionIds = tokenizer.encode(completion, { addBos: false });
  const room = maxLen - head.length - completionIds.length;
  if (promptIds.length > room) promptIds = promptIds.slice(Math.max(0, promptIds.length - Math.max(0, room)));
  const ids = [...head, ...promptIds, ...completionIds];
  const targetMask = ids.map((_, t) => (t >= head.length + promptIds.length ? 1 : 0));
  return { ids, targetMask };
}

/**
 * Label-token scoring accuracy: for each example, the predicted label is the
 * one whose string has the highest total log-probability after the prompt,
 * log p(label | prompt) = −Σ token NLL (a sum, not a mean, so it is the
 * probability of the whole label string; labels of different token lengths
 * are compared fairly as strings). A tie counts as wrong, so a model that
 * cannot tell the labels apart scores chance or below, never above.
 */
export async function labelScoringAccuracy(
  model: ScoringModel,
  tokenizer: BenchTokenizer,
  examples: readonly LabelExample[],
  labels: readonly string[],
  maxLen: number,
): Promise<{ accuracy: number; n: number }> {
  const rows: TokenRow[] = [];
  for (const ex of examples) for (const label of labels) rows.push(completionRow(tokenizer, ex.prompt, label, maxLen));
  const scores = await scoreInChunks(model, rows);
  let correct = 0;
  examples.forEach((ex, i) => {
    const nll = labels.map((_, j) => (scores[i * labels.length + j] as { nllSum: number }).nllSum);
    const best = Math.min(...nll);
    const winners = nll.flatMap((v, j) => (v === best ? [j] : []));
    if (winners.length === 1 && winners[0] === ex.label) correct += 1;
  });
  return { accuracy: examples.length === 0 ? Number.NaN : correct / examples.length, n: examples.length };
}
