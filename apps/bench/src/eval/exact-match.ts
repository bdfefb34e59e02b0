import type { BenchTokenizer, ScoringModel } from '../model/types.js';

/** A generation example: greedy output after `prompt` must equal `answer`. */
export interface GenerationExample {
  prompt: string;
  answer: string;
}

/** The answer part of a greedy continuation: text up to the first newline, trimmed. */
export function answerText(generated: string): string {
  const cut = generated.indexOf('\n');
  return (cut === -1 ? generated : generated.slice(0, cut)).trim();
}

/** Prompts decoded per model call. */
export const GENERATION_BATCH = 32;

/**
 * Exact match under greedy decoding: the fraction of examples whose greedy
 * continuation of `[BOS] prompt`, cut at the first newline (or EOS, or
 * `maxNewTokens`) and trimmed, equals the trimmed answer character for
 * character. Greedy decoding makes the metric deterministic; prompts are
 * decoded in batches of {@link GENERATION_BATCH}.
 */
export async function exactMatchAccuracy(
  model: ScoringModel,
  tokenizer: BenchTokenizer,
  examples: readonly GenerationExample[],
  maxNewTokens: number,
): Promise<{ exactMatch: number; n: number; samples: Array<{ prompt: string; answer: string; output: string }> }> {
  let correct = 0;
  const samples: Array<{ prompt: string; answer: string; output: string }> = [];
  const head = tokenizer.bosId === null ? [] : [tokenizer.bosId];
  for (let i = 0; i < examples.length; i += GENERATION_BATCH) {
    const chunk = examples.slice(i, i + GENERATION_BATCH);
    const prompts = chunk.map((ex) => [...head, ...tokenizer.encode(ex.prompt, { addBos: false })]);
    const outputs = await model.greedy(prompts, maxNewTokens);
    chunk.forEach((ex, j) => {
      const ids = (outputs[j] ?? []).filter((id) => id !== tokenizer.eosId);
      const output = answerText(tokenizer.decode(ids));
      if (output === ex.answer.trim()) correct += 1;
      if (samples.length < 3) samples.push({ prompt: ex.prompt, answer: ex.answer.trim(), output });
    });
  }
  return { exactMatch: examples.length === 0 ? Number.NaN : correct / examples.length, n: examples.length, samples };
}
