import type { RowScore, ScoringModel, TokenRow } from '../model/types.js';

/**
 * Test helper: an exact bigram language model, p(next | prev) =
 * softmax(logits[prev]), computed in float64, so metric code can be checked
 * against hand-computed values.
 */
export class BigramModel implements ScoringModel {
  readonly calls: number[] = [];

  constructor(
    readonly vocab: number,
    /** `logits[prev * vocab + next]`. */
    readonly logits: Float64Array,
    readonly eosId: number | null = null,
  ) {}

  /** −log p(next | prev). */
  nll(prev: number, next: number): number {
    const row = this.logits.subarray(prev * this.vocab, (prev + 1) * this.vocab);
    const max = Math.max(...row);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    return max + Math.log(sum) - (row[next] as number);
  }

  async scoreRows(rows: readonly TokenRow[]): Promise<RowScore[]> {
    this.calls.push(rows.length);
    return rows.map((row) => {
      let nllSum = 0;
      let count = 0;
      for (let t = 1; t < row.ids.length; t++) {
        if (row.targetMask[t] !== 1) continue;
        nllSum += this.nll(row.ids[t - 1] as number, row.ids[t] as number);
        count += 1;
      }
      return { nllSum, count };
    });
  }

  async greedy(prompts: readonly (readonly number[])[], maxNewTokens: number): Promise<number[][]> {
    return prompts.map((prompt) => {
      const out: number[] = [];
      let prev = prompt[prompt.length - 1] as number;
      for (let i = 0; i < maxNewTokens; i++) {
        const row = this.logits.subarray(prev * this.vocab, (prev + 1) * this.vocab);
        let best = 0;
        for (let j = 1; j < this.vocab; j++) if ((row[j] as number) > (row[best] as number)) best = j;
        out.push(best);
        prev = best;
        if (best === this.eosId) break;
      }
      return out;
    });
  }
}
