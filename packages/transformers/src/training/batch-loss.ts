import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import type { CausalLMInputs } from '../models/types.js';
import type { TokenBatch } from './data.js';
import { causalLmLoss } from './loss.js';

/**
 * The masked mean next-token loss of one {@link TokenBatch} under `forward`
 * (a whole model, or one data-parallel replica's weights and adapter): the
 * one loss-on-batch path that `fineTune`, `meanLoss` and the replica job
 * share. The attention mask is passed only when the batch has padding, so
 * unpadded batches run exactly the reference's unmasked forward.
 */
export function tokenBatchLoss(batch: TokenBatch, forward: (inputs: CausalLMInputs) => tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const shape: [number, number] = [batch.batch, batch.seq];
    checkBatch(batch);
    const inputIds = tf.tensor2d(batch.inputIds, shape, 'int32');
    const padded = batch.attentionMask.some((m) => m === 0);
    const logits = forward(padded ? { inputIds, attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32') } : { inputIds });
    // A fresh host-side ids tensor: the forward's may live on the GPU by now, where reading it back would stall.
    return causalLmLoss(logits, tf.tensor2d(batch.inputIds, shape, 'int32'), tf.tensor2d(batch.lossMask, shape, 'int32'));
  });
}

function checkBatch(batch: TokenBatch): void {
  const n = batch.batch * batch.seq;
  for (const [name, array] of [
    ['inputIds', batch.inputIds],
    ['attentionMask', batch.attentionMask],
    ['lossMask', batch.lossMask],
  ] as const) {
    if (array.length !== n) {
      throw new ConfigError(`TokenBatch.${name} has ${array.length} entries, expected batch·seq = ${n}`, { tensor: name, shape: [batch.batch, batch.seq] });
    }
  }
  if (batch.seq < 2) throw new ConfigError('a training batch needs sequences of at least 2 tokens', { tensor: 'inputIds', shape: [batch.batch, batch.seq] });
}
