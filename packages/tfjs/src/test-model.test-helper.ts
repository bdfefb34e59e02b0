import * as tf from '@tensorflow/tfjs-core';
import { denseBaseWeight, type BaseWeight } from './base-weight.js';
import { Rng, type LoraFactors, type Matrix } from '@tsd-peft/core';
import { afterAll, beforeAll } from 'vitest';
import type { AdapterModel } from './adapter-model.js';
import { setupBackend } from './backend/setup.js';
import type { LinearProvider } from './linear.js';

/**
 * A small synthetic model for adapter tests: two residual MLP blocks and a
 * head, all named 2-D weights in Hugging Face layout [out, in], plus a 1-D
 * norm-like weight that injection must ignore.
 */
export const DIM = 12;
export const HIDDEN = 20;
export const CLASSES = 5;
export const ROWS = 16;

/** Module paths of the synthetic model's linear weights. */
export const LINEAR_MODULES = ['layers.0.up', 'layers.0.down', 'layers.1.up', 'layers.1.down', 'head'];

/** Random weights (seeded), scaled like a default init so activations stay O(1). */
export function makeWeights(seed = 1): Map<string, tf.Tensor> {
  const rng = Rng.fromSeed(seed);
  const mat = (rows: number, cols: number) =>
    tf.tensor2d(
      Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols)),
      [rows, cols],
    );
  const weights = new Map<string, tf.Tensor>();
  for (const layer of [0, 1]) {
    weights.set(`layers.${layer}.up.weight`, mat(HIDDEN, DIM));
    weights.set(`layers.${layer}.down.weight`, mat(DIM, HIDDEN));
  }
  weights.set('head.weight', mat(CLASSES, DIM));
  weights.set('norm.weight', tf.ones([DIM]));
  return weights;
}

/** Fixed inputs and regression targets. */
export function makeData(seed = 2): { x: tf.Tensor2D; target: tf.Tensor2D } {
  const rng = Rng.fromSeed(seed);
  const x = tf.tensor2d(
    Float32Array.from({ length: ROWS * DIM }, () => rng.normal()),
    [ROWS, DIM],
  );
  const target = tf.tensor2d(
    Float32Array.from({ length: ROWS * CLASSES }, () => rng.normal()),
    [ROWS, CLASSES],
  );
  return { x, target };
}

/** The synthetic forward: h += down(tanh(up(h))) per block, then the head. */
export function forward(provider: LinearProvider, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    let h = x;
    for (const layer of [0, 1]) {
      const u = tf.tanh(provider.linear(`layers.${layer}.up`, h)) as tf.Tensor2D;
      h = tf.add(h, provider.linear(`layers.${layer}.down`, u)) as tf.Tensor2D;
    }
    return provider.linear('head', h);
  });
}

/** Mean squared error of the forward against the targets. */
export function mseLoss(provider: LinearProvider, x: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(forward(provider, x), target)) as tf.Scalar);
}

/** A provider with no adapters: y = x·Wᵀ straight from the weight map (the reference base forward). */
export function baseProvider(weights: ReadonlyMap<string, BaseWeight>): LinearProvider {
  return {
    linear: (name, x) => tf.tidy(() => tf.matMul(x, denseBaseWeight(weights.get(`${name}.weight`) as BaseWeight) as tf.Tensor2D, false, true)),
  };
}

/**
 * Plain SGD for `steps` steps over the model's trainable variables (the set
 * is re-read every step, so a LoRA-Dash d joins at launch), calling
 * `afterOptimizerStep` with the 1-based count. Returns the reset requests seen.
 */
export function trainSgd(model: AdapterModel, data: { x: tf.Tensor2D; target: tf.Tensor2D }, steps: number, lr = 0.05, from = 0): string[][] {
  const resets: string[][] = [];
  for (let step = from; step < from + steps; step++) {
    const vars = [...model.trainableVariables().values()];
    const { value, grads } = tf.variableGrads(() => mseLoss(model, data.x, data.target), vars);
    tf.tidy(() => {
      for (const v of vars) {
        const g = grads[v.name];
        if (g !== undefined) v.assign(tf.sub(v, tf.mul(g, lr)));
      }
    });
    tf.dispose([value, ...Object.values(grads)]);
    model.afterOptimizerStep(step + 1);
    resets.push(model.consumeResetRequests());
  }
  return resets;
}

/** max |a − b| over two same-shape tensors. */
export function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** The synthetic model's weights and data, shared by one test file's tests. */
export interface TestModelFixture {
  weights: Map<string, tf.Tensor>;
  data: { x: tf.Tensor2D; target: tf.Tensor2D };
}

/**
 * Registers the usual hooks of an adapter test file: the wasm backend and fresh
 * {@link makeWeights}/{@link makeData} before its tests, disposal after. The
 * fields are filled in by `beforeAll`, so read them inside tests only.
 */
export function useTestModel(): TestModelFixture {
  const fixture = {} as TestModelFixture;
  beforeAll(async () => {
    await setupBackend('wasm');
    fixture.weights = makeWeights();
    fixture.data = makeData();
  });
  afterAll(() => tf.dispose([...fixture.weights.values(), fixture.data.x, fixture.data.target]));
  return fixture;
}

/** A 2-D tensor's values as a core Matrix (a float32 copy). */
export function tensorMatrix(t: tf.Tensor): Matrix<Float32Array> {
  return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: Float32Array.from(t.dataSync()) };
}

/** The current LoRA factors of `name` in `model` with the given scaling, as core's LoraFactors. */
export function loraFactorsOf(model: AdapterModel, name: string, scaling: number): LoraFactors {
  const vars = model.trainableVariables();
  return {
    A: tensorMatrix(vars.get(`${name}.lora_A.weight`) as tf.Variable),
    B: tensorMatrix(vars.get(`${name}.lora_B.weight`) as tf.Variable),
    scaling,
  };
}
