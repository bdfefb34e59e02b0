/**
 * The data-parallel causal-LM test's job: a tiny random Llama (grouped-query
 * attention, untied head) with LoRA-Dash on q/k/v/o, trained on right-padded
 * batches whose rows hold different numbers of real tokens, so the shards'
 * token weights differ. Runs in workers and in-process (the reference).
 */
import { Rng } from '@tsd-peft/core';
import type { AdapterModel, TrainResult } from '@tsd-peft/tfjs';
import type { ReplicaContext, ReplicaJob } from '@tsd-peft/tfjs/node';
import type { TokenBatch } from '../../training/data.js';
import { causalLmReplicaJob } from '../causal-lm-job.js';
import { randomCausalLM } from '../random-model.js';

export const TINY_LLAMA = {
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 61,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  initializer_range: 0.2,
} as const;

const ROWS = 5;
const SEQ = 12;

/** Global batch i: 5 rows, row j has 12 − (i + j) % 4 real tokens then padding (id 0). */
export function tinyBatch(i: number): TokenBatch {
  const rng = Rng.fromSeed(300 + i);
  const inputIds = new Int32Array(ROWS * SEQ);
  const attentionMask = new Int32Array(ROWS * SEQ);
  const lossMask = new Int32Array(ROWS * SEQ);
  let tokens = 0;
  for (let j = 0; j < ROWS; j++) {
    const real = SEQ - ((i + j) % 4);
    for (let t = 0; t < real; t++) {
      inputIds[j * SEQ + t] = 1 + rng.nextInt(TINY_LLAMA.vocab_size - 1);
      attentionMask[j * SEQ + t] = 1;
      if (t > 0) {
        lossMask[j * SEQ + t] = 1;
        tokens++;
      }
    }
  }
  return { batch: ROWS, seq: SEQ, inputIds, attentionMask, lossMask, tokens };
}

/** What each rank reports: its losses and LoRA factors. */
export interface TinyOutput {
  lossHistory: number[];
  weights: Record<string, number[]>;
}

/** The job of one replica. */
export function tinyLlamaJob(context: ReplicaContext): ReplicaJob<TokenBatch, number> {
  const { replica, weights } = randomCausalLM(TINY_LLAMA, 3);
  return causalLmReplicaJob(context, {
    replica,
    weights,
    adapter: { method: 'lora-dash', r: 4, alpha: 8, s: 2, t: 2, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], seed: 1 },
    batchAt: tinyBatch,
    steps: (context.workerData as { steps: number }).steps,
    lr: 5e-3,
    collect: (result: TrainResult, adapter: AdapterModel): TinyOutput => ({
      lossHistory: result.lossHistory,
      weights: Object.fromEntries([...adapter.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())])),
    }),
  });
}
