/**
 * The trainer against the real adapter model (`injectAdapters`): LoRA-Dash
 * grows its trainable set at launch, LoRA-TSD also re-initialises A/B and asks
 * for an optimizer reset. A run interrupted after the launch and resumed into
 * a freshly injected model must match an uninterrupted one bit for bit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectAdapters } from '../adapter-model.js';
import type { AdapterConfig } from '../adapter-config.js';
import { decodeCheckpoint } from './checkpoint.js';
import { directoryCheckpointStore } from './directory-store.js';
import { indexedBatches } from './data-source.js';
import { useBackend } from './test-fixtures/backend.js';
import { train } from './train.js';
import { mlpToy } from '../test-fixtures/mlp-toy.js';

const toy = mlpToy({ seed: 77, batchSeed: 1000, inDim: 12, hidden: 16, outDim: 4, rows: 8, teacher: (x, k) => Math.sin((x[(k * 5) % x.length] as number) + k) });

const dirs: string[] = [];
let weights: Map<string, tf.Tensor2D>;
beforeAll(async () => {
  await useBackend('cpu');
  weights = toy.weights();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  tf.dispose([...weights.values()]);
});

async function run(config: AdapterConfig, dir: string, options: { crashAt?: number; resume?: boolean } = {}) {
  const model = injectAdapters(weights, config);
  let launchedAfter: number | undefined;
  try {
    const result = await train({
      model,
      data: indexedBatches(toy.batchAt),
      lossFn: (b) => toy.loss(model, b),
      steps: 16,
      lr: 1e-2,
      checkpoint: { dir, every: 4 },
      resume: options.resume ?? false,
      onProgress: (e) => {
        if (launchedAfter === undefined && [...model.trainableVariables().keys()].some((n) => n.includes('dash'))) launchedAfter = e.step;
        if (e.step === options.crashAt) throw new Error('simulated crash');
      },
    });
    const values = Object.fromEntries([...model.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())]));
    return { result, values, launchedAfter };
  } finally {
    model.dispose();
  }
}

describe.each([
  { method: 'lora-dash', r: 3, t: 5, s: 2, targetModules: ['fc1', 'fc2'] },
  { method: 'lora-tsd', r: 3, t: 5, s: 2, initSteps: 3, targetModules: ['fc1', 'fc2'] },
] satisfies AdapterConfig[])('trainer × injectAdapters($method)', (config) => {
  it('resumes across the launch bit for bit, with the late d and its Adam state', async () => {
    const straightDir = mkdtempSync(join(tmpdir(), 'tsd-adapter-'));
    const crashDir = mkdtempSync(join(tmpdir(), 'tsd-adapter-'));
    dirs.push(straightDir, crashDir);
    const straight = await run(config, straightDir);
    expect(Object.keys(straight.values).some((n) => n.includes('dash'))).toBe(true); // d exists after launch
    await expect(run(config, crashDir, { crashAt: 10 })).rejects.toThrow('simulated crash');
    const resumed = await run(config, crashDir, { resume: true });
    expect(resumed.result.resumedFromStep).toBe(8); // after the launch at step 5
    expect(resumed.result.lossHistory).toEqual(straight.result.lossHistory);
    expect(resumed.values).toEqual(straight.values);
    const final = async (dir: string) => {
      const latest = await directoryCheckpointStore(dir).latest();
      return decodeCheckpoint(latest?.bytes as Uint8Array, latest?.location);
    };
    const [a, b] = [await final(straightDir), await final(crashDir)];
    expect(b.optimizer).toEqual(a.optimizer);
    const dashSteps = Object.entries(a.optimizer.variables)
      .filter(([n]) => n.includes('dash'))
      .map(([, s]) => s.step);
    expect(dashSteps.length).toBeGreaterThan(0);
    // Adam state of d began with its first gradient, in the step after the launch.
    expect(straight.launchedAfter).toBeGreaterThanOrEqual(config.t);
    expect(new Set(dashSteps)).toEqual(new Set([16 - (straight.launchedAfter as number)]));
    if (config.method === 'lora-tsd') {
      // LoRA-TSD re-initialised A and B after its estimate and asked for their state to restart.
      const aSteps = Object.entries(a.optimizer.variables)
        .filter(([n]) => n.endsWith('lora_A.weight'))
        .map(([, st]) => st.step);
      expect(new Set(aSteps)).toEqual(new Set([16 - (config.initSteps ?? 0)]));
    }
  });
});
