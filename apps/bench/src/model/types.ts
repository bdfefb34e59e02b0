/**
 * The bench's view of a causal LM: a tokenizer plus two read-only queries
 * (score a batch of token rows, decode greedily). Tasks and metrics are written
 * against these interfaces only, so they can be tested with a small exact
 * model and stay independent of how training is wired.
 */

/** Text ↔ token ids, as the model's tokenizer sees them. */
export interface BenchTokenizer {
  /** Token ids of `text`; `addBos` prepends the BOS id when the model has one. */
  encode(text: string, options?: { addBos?: boolean }): number[];
  /** Text of `ids` (special tokens dropped). */
  decode(ids: readonly number[]): string;
  /** The BOS id, or null when the tokenizer has none. */
  readonly bosId: number | null;
  /** The EOS id, or null when the tokenizer has none. */
  readonly eosId: number | null;
  /** The id used to pad rows of a batch (never counted in a loss). */
  readonly padId: number;
  /** Number of ids the model's output layer scores. */
  readonly vocabSize: number;
}

/**
 * One row of a batch. `targetMask[t] = 1` means token `ids[t]` is a target,
 * predicted from `ids[0..t)`; `targetMask[0]` is ignored (nothing predicts the
 * first token). This is the same convention as the trainer's loss mask.
 */
export interface TokenRow {
  ids: number[];
  targetMask: number[];
}

/** Summed negative log-likelihood (nats) of a row's targets, and how many there were. */
export interface RowScore {
  nllSum: number;
  count: number;
}

/** A model the bench can evaluate. Implementations must not change model state. */
export interface ScoringModel {
  /** Σ −log p(ids[t] | ids[<t]) over targets of each row, in row order. */
  scoreRows(rows: readonly TokenRow[]): Promise<RowScore[]>;
  /**
   * Greedy (argmax) continuations of several prompts, up to `maxNewTokens`
   * new ids each (a row may stop early at an EOS id, which is kept). Returns
   * only the new ids, in prompt order.
   */
  greedy(prompts: readonly (readonly number[])[], maxNewTokens: number): Promise<number[][]>;
}
