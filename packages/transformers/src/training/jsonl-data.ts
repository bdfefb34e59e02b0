import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';
import type { Tokenizer } from '../tokenizer.js';
import { BatchSource, parseJsonlExamples, tokenizeExamples, type TokenBatch, type TokenizedExample } from './data.js';

/** Options of {@link readJsonlExamples}. */
export interface JsonlDataOptions {
  /** Truncate every example to this many tokens. */
  seqLen: number;
}

/**
 * Reads a JSONL file of `{text}` or `{prompt, completion}` records and
 * tokenizes it with the model's tokenizer: prompts and texts with special
 * tokens (BOS), completions without, so only completion tokens are targets.
 * Examples left with no target token after truncation are dropped; none left
 * at all is a {@link ConfigError} naming the file.
 */
export function readJsonlExamples(file: string, tokenizer: Tokenizer, options: JsonlDataOptions): TokenizedExample[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`could not read training data: ${(cause as Error).message}`, { file }, { cause });
  }
  const examples = parseJsonlExamples(text, file);
  const tokenized = tokenizeExamples(
    examples,
    (t) => tokenizer.encode(t),
    (t) => tokenizer.encode(t, { addSpecialTokens: false }),
    options.seqLen,
  ).filter((e) => e.ids.length >= 2 && e.lossMask.some((m) => m === 1));
  if (tokenized.length === 0) {
    throw new ConfigError(`no example has a target token within --seq-len ${options.seqLen} (texts need ≥ 2 tokens, pairs a non-empty completion)`, { file });
  }
  return tokenized;
}

/** The padding id for batches: the tokenizer's pad token, else EOS, else 0 (masked out either way). */
export function padIdOf(tokenizer: Tokenizer): number {
  return tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
}

/**
 * Fixed evaluation batches: the examples in file order, `batchSize` at a time
 * (the last batch may be smaller), padded on the right.
 */
export function evaluationBatches(examples: readonly TokenizedExample[], batchSize: number, padId: number): TokenBatch[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batch size must be a positive integer, got ${batchSize}`);
  const batches: TokenBatch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) {
    const chunk = examples.slice(i, i + batchSize);
    batches.push(new BatchSource(chunk, { batchSize: chunk.length, seed: 0, shuffle: false, padId }).batchAt(0));
  }
  return batches;
}
