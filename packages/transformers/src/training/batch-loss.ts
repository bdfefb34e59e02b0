import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import type { CausalLMInputs, CausalLMReplica, WeightMap } from '../models/types.js';
import type { TokenBatch } from './data.js';
import { CHUNKED_LOSS_MIN_ELEMENTS, causalLmLoss, chunkedCausalLmLoss } from './loss.js';

/**
 * The masked mean next-token loss of one {@link TokenBatch} under `forward`
 * (a whole model, or one data-parallel replica's weights and adapter): the
 * one loss-on-batch path that `fineTune`, `meanLoss` and the replica job
 * share. The attention mask is passed only when the batch has padding, so
 * unpadded batches run exactly the reference's unmasked forward.
 */
export function tokenBatchLoss(batch: TokenBatch, forward: (inputs: CausalLMInputs) => tf.Tensor3D, split?: LmHeadSplit): tf.Scalar {
  return tf.tidy(() => {
    const shape: [number, number] = [batch.batch, batch.seq];
    checkBatch(batch);
    const inputIds = tf.tensor2d(batch.inputIds, shape, 'int32');
    const padded = batch.attentionMask.some((m) => m === 0);
    const inputs = padded ? { inputIds, attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32') } : { inputIds };
    // A fresh host-side ids tensor: the forward's may live on the GPU by now, where reading it back would stall.
    const ids = tf.tensor2d(batch.inputIds, shape, 'int32');
    const lossMask = tf.tensor2d(batch.lossMask, shape, 'int32');
    if (split !== undefined && batch.batch * batch.seq * split.vocabSize >= CHUNKED_LOSS_MIN_ELEMENTS) {
      const h = split.hidden(inputs);
      const [b, t, d] = h.shape;
      return chunkedCausalLmLoss(tf.reshape(h, [b * t, d]), split.head, split.vocabSize, ids, lossMask, split.trainable());
    }
    return causalLmLoss(forward(inputs), ids, lossMask);
  });
}

/**
 * A model's forward split before its head, so {@link tokenBatchLoss} can
 * apply the head in chunks of rows ({@link chunkedCausalLmLoss}) once the
 * logits would reach {@link CHUNKED_LOSS_MIN_ELEMENTS} elements; below that
 * the loss is the unchunked one, bit for bit as before.
 */
export interface LmHeadSplit {
  /** Final normed hidden states `[B, T, hidden]`. */
  hidden(inputs: CausalLMInputs): tf.Tensor3D;
  /** `lm_head` on rows `[n, hidden]` → `[n, vocab]`. */
  head(rows: tf.Tensor2D): tf.Tensor2D;
  readonly vocabSize: number;
  /** Tensors under the head that need gradients (its adapter's variables). */
  trainable(): tf.Tensor[];
}

/** The {@link LmHeadSplit} of a replica over its weights and linear provider. */
export function replicaHeadSplit(replica: CausalLMReplica, weights: WeightMap, linear: LinearProvider): LmHeadSplit {
  return {
    hidden: (inputs) => replica.hiddenStates(inputs, weights, linear),
    head: (rows) => linear.linear('lm_head', rows),
    vocabSize: replica.config.vocabSize,
    trainable: () => linear.gradientTensors?.('lm_head') ?? [],
  };
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
