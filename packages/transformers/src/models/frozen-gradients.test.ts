/**
 * With LoRA, a training step computes no gradient for frozen weights: the
 * tape only differentiates what the trainable variables reach, and frozen
 * projections are plain tensors. Checked on the kernels a real gradient step
 * runs (tf.profile): no matmul with the batch's n rows as inner dimension
 * produces the shape of a frozen weight (that is what dW = dyᵀ·x looks like).
 * Full fine-tuning of the same model must show exactly those products, so
 * the check can fail.
 */
import * as tf from '@tensorflow/tfjs-core';
import { baseWeightShape, injectAdapters, type AdapterConfig } from '@tsd-peft/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomCausalLM } from '../parallel/random-model.js';
import { TINY_LLAMA } from '../parallel/test-fixtures/tiny-llama-job.js';
import { causalLmLoss } from '../training/loss.js';
import { useWasmBackend } from './test-backend.test-helper.js';

beforeAll(useWasmBackend);

const [BATCH, SEQ] = [2, 7]; // n = 14 rows, unlike any model dimension

/** Shapes `a×b` of the weight-gradient-like products of one gradient step. */
async function weightShapedProducts(adapter: AdapterConfig): Promise<{ shapes: Set<string>; weightShapes: Set<string> }> {
  const { replica, weights } = randomCausalLM(TINY_LLAMA, 3);
  const model = injectAdapters(weights, adapter);
  const ids = tf.tensor2d(
    Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 7) % 61),
    [BATCH, SEQ],
    'int32',
  );
  const vars = [...model.trainableVariables().values()];
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => causalLmLoss(replica.forward({ inputIds: ids }, weights, model), ids), vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const shapes = new Set<string>();
  for (const k of profile.kernels) {
    if (k.name !== 'BatchMatMul') continue;
    const [a] = k.inputShapes as number[][];
    const out = k.outputShapes[0] as number[];
    // n is the inner dimension of dyᵀ·x whether the kernel gets dyᵀ or dy with transposeA
    if (a?.length === 2 && out.length === 2 && (a[1] === BATCH * SEQ || a[0] === BATCH * SEQ)) shapes.add(`${out[0]}x${out[1]}`);
  }
  const weightShapes = new Set<string>();
  for (const [name, w] of weights) {
    const s = baseWeightShape(w);
    if (s.length === 2 && !name.includes('embed_tokens')) weightShapes.add(`${s[0]}x${s[1]}`).add(`${s[1]}x${s[0]}`);
  }
  model.dispose();
  replica.dispose();
  tf.dispose([...(new Set(weights.values()) as Set<tf.Tensor>), ids]);
  return { shapes, weightShapes };
}

describe('gradients under LoRA', () => {
  it('are never computed for frozen weights (only for A and B)', async () => {
    const { shapes, weightShapes } = await weightShapedProducts({ method: 'lora', r: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] });
    expect([...shapes].filter((s) => weightShapes.has(s))).toEqual([]);
    // dA = dQ_rᵀ·x: [r, in] products exist, so the filter does see the step's weight gradients
    expect(shapes.has('4x32') || shapes.has('32x4')).toBe(true);
  });

  it('are computed for every trained weight under full fine-tuning (the check can fail)', async () => {
    const { shapes, weightShapes } = await weightShapedProducts({ method: 'full', targetModules: ['q_proj', 'down_proj'] });
    expect([...shapes].filter((s) => weightShapes.has(s)).length).toBeGreaterThanOrEqual(2);
  });
});
