import * as tf from '@tensorflow/tfjs-core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import type { CausalLM } from '@tsd-peft/transformers';
import type { RowScore, ScoringModel, TokenRow } from '../model/types.js';

/** Prompts per generate call (each call is one batched greedy decode). */
const GENERATE_CHUNK = 32;

/**
 * A {@link ScoringModel} over a loaded causal LM and a linear provider (the
 * frozen weights, or an adapter model during training). Scores come from one
 * forward per batch: log-softmax of the logits at t−1, read at token t, summed
 * over the row's targets (float32 on the device, summed in float64 here).
 * Rows are right-padded with an attention mask, so padding never changes a
 * real position's logits.
 */
export function scoringModelFor(lm: CausalLM, linear: LinearProvider, padId: number): ScoringModel {
  return {
    async scoreRows(rows: readonly TokenRow[]): Promise<RowScore[]> {
      const T = Math.max(...rows.map((r) => r.ids.length));
      if (rows.length === 0) return [];
      if (T < 2) return rows.map(() => ({ nllSum: 0, count: 0 }));
      const B = rows.length;
      const ids = rows.map((r) => [...r.ids, ...new Array<number>(T - r.ids.length).fill(padId)]);
      const mask = rows.map((r) => r.ids.map(() => 1).concat(new Array<number>(T - r.ids.length).fill(0)));
      const V = lm.config.vocabSize;
      const flat = new Int32Array(B * (T - 1));
      rows.forEach((_, b) => {
        for (let t = 1; t < T; t++) flat[b * (T - 1) + t - 1] = (b * (T - 1) + t - 1) * V + (ids[b]?.[t] as number);
      });
      const picked = tf.tidy(() => {
        const logits = lm.forward({ inputIds: ids, attentionMask: mask }, linear);
        const shifted = tf.reshape(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), [B * (T - 1), V]);
        return tf.gather(tf.reshape(tf.logSoftmax(shifted), [-1]), tf.tensor1d(flat, 'int32'));
      });
      const logp = await picked.data();
      picked.dispose();
      return rows.map((row, b) => {
        let nllSum = 0;
        let count = 0;
        for (let t = 1; t < row.ids.length; t++) {
          if (row.targetMask[t] !== 1) continue;
          nllSum -= logp[b * (T - 1) + t - 1] as number;
          count += 1;
        }
        return { nllSum, count };
      });
    },

    async greedy(prompts: readonly (readonly number[])[], maxNewTokens: number): Promise<number[][]> {
      const out: number[][] = [];
      for (let i = 0; i < prompts.length; i += GENERATE_CHUNK) {
        const chunk = prompts.slice(i, i + GENERATE_CHUNK);
        const result = await lm.generate(
          chunk.map((p) => [...p]),
          { maxNewTokens, linear, padTokenId: padId },
        );
        out.push(...result.newTokens);
      }
      return out;
    },
  };
}
