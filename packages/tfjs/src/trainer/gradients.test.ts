import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { indexedBatches } from './data-source.js';
import { accumulateGradients } from './gradients.js';
import { useBackend } from './test-fixtures/backend.js';
import { GrowingMlp, mseLoss, takeRows, toyDataset, type ToyBatch } from './test-fixtures/toy-models.js';
import { train } from './train.js';

const IN = 5;
const OUT = 3;
const data = toyDataset(3, 64, IN, OUT);
const rows = (from: number, n: number) =>
  takeRows(
    data,
    Array.from({ length: n }, (_, i) => from + i),
    IN,
    OUT,
  );

function values(grads: Map<string, tf.Tensor>): Record<string, number[]> {
  return Object.fromEntries([...grads].map(([name, g]) => [name, Array.from(g.dataSync())]));
}

// Summing two half-batch means in fp32 instead of one full mean reorders a handful of roundings:
// gradients here are O(0.1–1), so 1e-6 absolute is ~10 ulps of headroom.
const TOL = 1e-6;

describe('gradient accumulation', () => {
  beforeAll(() => useBackend('cpu'));

  it('k equal micro-batches of a mean loss give the gradient and loss of one big batch', () => {
    const model = new GrowingMlp({ seed: 1, inDim: IN, hidden: 8, outDim: OUT, growAt: Infinity });
    const before = tf.memory().numTensors;
    const big = accumulateGradients(model.trainableVariables(), 1, () => mseLoss(model, rows(0, 16), IN, OUT));
    const split = accumulateGradients(model.trainableVariables(), 4, (i) => mseLoss(model, rows(4 * i, 4), IN, OUT));
    expect(split.losses).toHaveLength(4);
    const meanLoss = split.losses.reduce((s, l) => s + (l.dataSync()[0] as number), 0) / 4;
    expect(Math.abs(meanLoss - (big.losses[0]?.dataSync()[0] as number))).toBeLessThan(TOL);
    const a = values(big.grads);
    const b = values(split.grads);
    expect(Object.keys(b).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.weight']);
    for (const name of Object.keys(a)) a[name]?.forEach((x, j) => expect(Math.abs(x - (b[name]?.[j] as number))).toBeLessThan(TOL));
    tf.dispose([...big.grads.values(), ...split.grads.values(), ...big.losses, ...split.losses]);
    expect(tf.memory().numTensors).toBe(before); // batches built inside the tape were released
    model.dispose();
  });

  it('gives no gradient to a variable the loss does not reach, and refuses bad k', () => {
    const model = new GrowingMlp({ seed: 1, inDim: IN, hidden: 8, outDim: OUT, growAt: Infinity });
    const vars = new Map(model.trainableVariables());
    const unused = tf.variable(tf.zeros([2]), true, 'unused-accum');
    vars.set('unused', unused);
    const { grads, losses } = accumulateGradients(vars, 1, () => mseLoss(model, rows(0, 4), IN, OUT));
    expect(grads.has('unused')).toBe(false);
    expect(() => accumulateGradients(vars, 0, () => tf.scalar(0))).toThrow(ConfigError);
    tf.dispose([...grads.values(), ...losses, unused]);
    model.dispose();
  });

  it('train() with accumulation follows the same trajectory as one big batch per step', async () => {
    const run = async (k: number) => {
      const model = new GrowingMlp({ seed: 2, inDim: IN, hidden: 8, outDim: OUT, growAt: Infinity });
      // Micro-batch i of step s is rows [8s + 8i/k, …): k micro-batches cover exactly the big batch.
      const source = indexedBatches<ToyBatch>((i) => rows(((i * 8) / k) % 64, 8 / k));
      const result = await train({ model, data: source, steps: 6, lr: 1e-2, accumulationSteps: k, lossFn: (b) => mseLoss(model, b, IN, OUT) });
      const weights = Object.fromEntries([...model.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())]));
      model.dispose();
      return { losses: result.lossHistory, weights };
    };
    const one = await run(1);
    const two = await run(2);
    one.losses.forEach((l, i) => expect(Math.abs(l - (two.losses[i] as number))).toBeLessThan(TOL));
    // Adam divides by √v̂, so tiny gradient differences stay tiny in the update (lr = 1e-2, 6 steps).
    for (const name of Object.keys(one.weights)) {
      one.weights[name]?.forEach((x, j) => expect(Math.abs(x - (two.weights[name]?.[j] as number))).toBeLessThan(1e-5));
    }
  });
});
