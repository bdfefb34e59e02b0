import type { RowScore, ScoringModel, TokenRow } from '../model/types.js';

/** Rows scored per model call during evaluation: bounds activation memory. */
export const EVAL_BATCH_ROWS = 8;

/** Scores `rows` in chunks of {@link EVAL_BATCH_ROWS}, in order. */
export async function scoreInChunks(model: ScoringModel, rows: readonly TokenRow[], chunk = EVAL_BATCH_ROWS): Promise<RowScore[]> {
  const out: RowScore[] = [];
  for (let i = 0; i < rows.length; i += chunk) {
    out.push(...(await model.scoreRows(rows.slice(i, i + chunk))));
  }
  return out;
}

/**
 * Non-overlapping windows of `seqLen` tokens covering the first `maxTokens`
 * tokens of `ids` (a shorter tail window is kept when it has ≥ 2 tokens). Every
 * token but the first of a window is a target, so a window of n tokens has
 * n − 1 targets. Deterministic: evaluation never depends on the run seed.
 */
export function evalWindows(ids: Int32Array, seqLen: number, maxTokens: number): TokenRow[] {
  const limit = Math.min(ids.length, maxTokens);
  const rows: TokenRow[] = [];
  for (let start = 0; start + 2 <= limit; start += seqLen) {
    const end = Math.min(start + seqLen, limit);
    const windowIds = Array.from(ids.subarray(start, end));
    const mask = windowIds.map((_, t) => (t === 0 ? 0 : 1));
    rows.push({ ids: windowIds, targetMask: mask });
  }
  return rows;
}

/**
 * Mean next-token NLL (nats per target token) over all targets of `rows`: the
 * token-weighted mean, Σ nll / Σ count, so long and short rows weigh by
 * their tokens. Perplexity is exp of this.
 */
export async function meanNll(model: ScoringModel, rows: readonly TokenRow[]): Promise<{ nll: number; tokens: number }> {
  const scores = await scoreInChunks(model, rows);
  let sum = 0;
  let count = 0;
  for (const s of scores) {
    sum += s.nllSum;
    count += s.count;
  }
  return { nll: count === 0 ? Number.NaN : sum / count, tokens: count };
}
