/**
 * Every method trains on tfjs's `webgpu` backend through the real trainer
 * (Adam, launches, re-initialisations, checkpoints, PEFT export) with the
 * results of wasm. In CI the device is Dawn on Mesa's llvmpipe (OpenGL ES,
 * WebGPU compatibility mode): a real WebGPU implementation without a GPU,
 * so this test runs everywhere and is never skipped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectAdapters } from '../adapter-model.js';
import { decodeCheckpoint } from '../trainer/checkpoint.js';
import type { CheckpointStore } from '../trainer/checkpoint-store.js';
import { indexedBatches } from '../trainer/data-source.js';
import { train } from '../trainer/train.js';
import { ADAPTER_METHODS, type AdapterMethod } from '../variants/registry.js';
import { setupBackend } from './setup.js';
import { webGpuBackendInfo, webGpuDeviceErrors } from './webgpu-backend.js';
import { needsAsyncReads, prefetchHostValues } from './webgpu-host-reads.js';
import { releaseWebGpuBufferPool, webGpuMemory } from './webgpu-memory.js';

const IN = 12;
const HIDDEN = 16;
const OUT = 6;
const ROWS = 8;
const STEPS = 8;
/** Launch / re-initialisation after 3 steps, so both happen inside the run. */
const T = 3;

interface MethodRun {
  losses: number[];
  variables: Map<string, Float32Array>;
  checkpointVariables: Map<string, Float32Array>;
  peftTensors: Map<string, Float32Array>;
  selections: string;
}

function batchAt(i: number): { x: Float32Array; y: Float32Array } {
  const rng = Rng.fromSeed(500 + i);
  const x = Float32Array.from({ length: ROWS * IN }, () => rng.normal());
  const y = Float32Array.from({ length: ROWS * OUT }, (_, k) => Math.cos((x[(k * 7) % x.length] as number) - k));
  return { x, y };
}

/** An in-memory checkpoint store: the trainer's capture path without disk. */
function memoryStore(): CheckpointStore & { last: Uint8Array | null } {
  const saved = new Map<number, Uint8Array>();
  return {
    last: null,
    async save(step, bytes) {
      saved.set(step, bytes);
      this.last = bytes;
      return `memory:${step}`;
    },
    async latest() {
      return undefined;
    },
    async steps() {
      return [...saved.keys()];
    },
  };
}

async function runMethod(method: AdapterMethod): Promise<MethodRun> {
  const rng = Rng.fromSeed(42);
  const w = (rows: number, cols: number) =>
    tf.tensor2d(
      Float32Array.from({ length: rows * cols }, () => rng.normal() / Math.sqrt(cols)),
      [rows, cols],
    );
  const weights = new Map<string, tf.Tensor2D>([
    ['fc1.weight', w(HIDDEN, IN)],
    ['fc2.weight', w(OUT, HIDDEN)],
  ]);
  // A forward on the base first: on webgpu the weights then live only on the GPU, as in real use.
  tf.tidy(() => tf.matMul(tf.ones([1, IN]), weights.get('fc1.weight') as tf.Tensor2D, false, true)).dispose();
  // Injection reads W on the host (initialisers, SVDs): await it first, as fineTune does.
  await prefetchHostValues(weights.values());
  const model = injectAdapters(weights, { method, r: 3, alpha: 6, targetModules: ['fc1', 'fc2'], t: T, s: 2, initSteps: T, seed: 7 });
  const store = memoryStore();
  try {
    const result = await train({
      model,
      lossFn: (b: { x: Float32Array; y: Float32Array }) =>
        tf.tidy(() => {
          const h = tf.relu(model.linear('fc1', tf.tensor2d(b.x, [ROWS, IN])));
          return tf.mean(tf.square(tf.sub(model.linear('fc2', h), tf.tensor2d(b.y, [ROWS, OUT])))) as tf.Scalar;
        }),
      data: indexedBatches(batchAt),
      steps: STEPS,
      lr: 0.01,
      clipGradNorm: 1,
      checkpoint: { store, every: STEPS },
    });
    const variables = new Map<string, Float32Array>();
    for (const [name, v] of model.trainableVariables()) variables.set(name, Float32Array.from(await v.data()));
    const checkpoint = decodeCheckpoint(store.last as Uint8Array, 'memory');
    // Export reads on the host: on a GPU backend its tensors are awaited first.
    await prefetchHostValues(model.hostReadsForState());
    const peft = model.toPeftAdapter();
    const peftTensors = new Map<string, Float32Array>();
    for (const [module, f] of peft.modules) {
      peftTensors.set(`${module}.A`, Float32Array.from(f.A.data));
      peftTensors.set(`${module}.B`, Float32Array.from(f.B.data));
    }
    const selections = JSON.stringify([...model.tsdSelections()].map(([m, s]) => [m, [...(s.initSelected ?? [])], [...(s.dashSelected ?? [])]]));
    return {
      losses: result.lossHistory,
      variables,
      checkpointVariables: new Map([...checkpoint.variables].map(([k, v]) => [k, v.data])),
      peftTensors,
      selections,
    };
  } finally {
    model.dispose();
    tf.dispose([...weights.values()]);
  }
}

/** max |a − b| / max(max|b|, 1e-12). */
function rel(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
}

const wasmRuns = new Map<AdapterMethod, MethodRun>();
const gpuRuns = new Map<AdapterMethod, MethodRun>();

beforeAll(async () => {
  await setupBackend('wasm');
  for (const method of ADAPTER_METHODS) wasmRuns.set(method, await runMethod(method));
  expect(await setupBackend('webgpu')).toBe('webgpu');
  for (const method of ADAPTER_METHODS) gpuRuns.set(method, await runMethod(method));
});

afterAll(async () => {
  releaseWebGpuBufferPool();
  await setupBackend('wasm');
});

describe('every method on webgpu equals wasm (fp32)', () => {
  it('runs on a WebGPU adapter that needs async reads', () => {
    expect(tf.getBackend()).toBe('webgpu');
    expect(needsAsyncReads()).toBe(true);
    expect(webGpuBackendInfo()?.adapter.description.length).toBeGreaterThan(0);
    expect(webGpuMemory()?.peakAllocatedBytes).toBeGreaterThan(0);
  });

  it('the device reported no validation error or loss', async () => {
    // Errors arrive asynchronously: give the event loop a turn after a queue drain.
    await tf.ones([1]).data();
    expect(webGpuDeviceErrors()).toEqual([]);
  });

  it.each(ADAPTER_METHODS)('%s: losses, trained variables, checkpoint and PEFT export', (method) => {
    const w = wasmRuns.get(method) as MethodRun;
    const g = gpuRuns.get(method) as MethodRun;
    expect(g.losses).toHaveLength(STEPS);
    // fp32 on both sides with different summation orders: the losses of this
    // O(1) problem agree to ~1e-7; 1e-5 leaves room for 8 Adam steps of drift.
    g.losses.forEach((l, i) => expect(Math.abs(l - (w.losses[i] as number)), `step ${i}`).toBeLessThan(1e-5));
    // The same directions were chosen at the launch / re-initialisation (SVD on the host).
    expect(g.selections).toBe(w.selections);
    expect([...g.variables.keys()]).toEqual([...w.variables.keys()]);
    // Variables, checkpointed values and exported factors: relative 1e-4
    // (Adam's update is ~sign(g) while |g| ≫ ε, so a backend's rounding
    // moves a parameter by far less than lr; 1e-4 of the tensor's scale).
    for (const [name, value] of w.variables) expect(rel(g.variables.get(name) as Float32Array, value), name).toBeLessThan(1e-4);
    for (const [name, value] of w.checkpointVariables) expect(rel(g.checkpointVariables.get(name) as Float32Array, value), `checkpoint ${name}`).toBeLessThan(1e-4);
    for (const [name, value] of w.peftTensors) expect(rel(g.peftTensors.get(name) as Float32Array, value), `peft ${name}`).toBeLessThan(1e-4);
  });
});
