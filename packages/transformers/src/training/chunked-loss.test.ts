import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { fixturePath } from '@tsd-peft/core/testing';
import { injectAdapters } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { replicaHeadSplit } from './batch-loss.js';
import { causalLmLoss, chunkedCausalLmLoss } from './loss.js';

let model: CausalLM;
let stream: number[];

beforeAll(async () => {
  await useWasmBackend();
  model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'), { tokenizer: false });
  stream = (JSON.parse(readFileSync(fixturePath('reference', 'lora-dash-trajectory', 'batches.json'), 'utf8')) as { batches: number[][][] }).batches.flat(2);
});
afterAll(() => model.dispose());

describe('chunkedCausalLmLoss', () => {
  // chunk sizes that split rows unevenly, one row per chunk, and a single chunk (plain CE path through the checkpoint)
  for (const chunkRows of [7, 1, 48]) {
    it(`equals causalLmLoss of the full logits, loss and every gradient (LoRA on q, v and the tied lm_head), chunks of ${chunkRows} rows`, () => {
      // lm_head targeted too, so gradients must reach adapter variables under the head through the checkpointed chunks
      const adapter = injectAdapters(model.weights, { method: 'lora', r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'lm_head'], seed: 5 });
      tf.tidy(() => {
        for (const [name, v] of adapter.trainableVariables()) if (name.endsWith('lora_B.weight')) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 3));
      });
      const ids = tf.tensor2d([stream.slice(0, 24), stream.slice(24, 48)], [2, 24], 'int32');
      // prompt tokens of row 1 uncounted: a chunk with nothing to predict is skipped
      const mask = tf.tensor2d([Array(24).fill(1), [...Array(12).fill(0), ...Array(12).fill(1)]], [2, 24], 'int32');
      const vars = [...adapter.trainableVariables().values()];
      const split = replicaHeadSplit(model.replica, model.weights, adapter);
      const full = tf.variableGrads(() => causalLmLoss(model.forward({ inputIds: ids }, adapter), ids, mask), vars);
      const chunked = tf.variableGrads(() => {
        const h = split.hidden({ inputIds: ids });
        return chunkedCausalLmLoss(tf.reshape(h, [48, h.shape[2]]), split.head, split.vocabSize, ids, mask, split.trainable(), chunkRows);
      }, vars);
      const a = full.value.dataSync()[0] as number;
      const b = chunked.value.dataSync()[0] as number;
      // the same per-row logits and softmax; only the sum over rows is grouped by chunk: fp32 rounding of a 35-term sum
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.abs(a));
      for (const v of vars) {
        const g = full.grads[v.name] as tf.Tensor;
        const gc = chunked.grads[v.name] as tf.Tensor;
        const scale = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] as number);
        expect(scale, v.name).toBeGreaterThan(0);
        // per-row gradients are the same ops; their sum into dA/dB is grouped by chunk (fp32 reassociation)
        expect(
          tf.tidy(() => tf.max(tf.abs(tf.sub(g, gc))).dataSync()[0] as number),
          v.name,
        ).toBeLessThanOrEqual(1e-5 * scale);
      }
      tf.dispose([full.value, chunked.value, ...Object.values(full.grads), ...Object.values(chunked.grads), ids, mask]);
      adapter.dispose();
    });
  }
});
