/**
 * The small training run the files in this folder were made from, by
 * `writeLegacyFiles` on the code of main f90392f (native format 3, the
 * checkpoint layout before module records): the same run repeated by the
 * current code must resume from those files bit for bit.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { serializeNativeAdapter } from '@tsd-peft/core';
import type { AdapterConfig } from '../../adapter-config.js';
import { injectAdapters, type AdapterModel } from '../../adapter-model.js';
import { checkpointFileName } from '../../trainer/checkpoint-store.js';
import { indexedBatches } from '../../trainer/data-source.js';
import { train } from '../../trainer/train.js';
import { mlpToy } from '../mlp-toy.js';

export const LEGACY_DIR = new URL('.', import.meta.url).pathname;
/** The register-variant test's toy. */
export const LEGACY_TOY = mlpToy({ seed: 5, batchSeed: 100, inDim: 10, hidden: 14, outDim: 3, rows: 8, teacher: (x, k) => Math.cos((x[(k * 3) % x.length] as number) + k) });
/** Steps of the whole run; the old checkpoints are at {@link LEGACY_CHECKPOINT_STEP}. */
export const LEGACY_STEPS = 12;
export const LEGACY_CHECKPOINT_STEP = 6;

/** The methods with old files here: LoRA-TSD (init residual, launched dash, spectra) and DoRA (magnitude). */
export const LEGACY_CONFIGS: Readonly<Record<'lora-tsd' | 'dora', AdapterConfig>> = {
  'lora-tsd': { method: 'lora-tsd', r: 2, alpha: 4, s: 2, t: 2, initSteps: 2, targetModules: ['fc1', 'fc2'], seed: 3 },
  dora: { method: 'dora', r: 2, alpha: 4, targetModules: ['fc1', 'fc2'], seed: 3 },
};

/** The toy's output for its fixed probe input. */
export function legacyOutput(model: AdapterModel): Float32Array {
  return tf.tidy(() => Float32Array.from(LEGACY_TOY.output(model, LEGACY_TOY.probe()).dataSync()));
}

/** Trains `steps` steps with checkpoints every {@link LEGACY_CHECKPOINT_STEP} steps in `dir`; returns the model and the losses. */
export async function legacyRun(method: keyof typeof LEGACY_CONFIGS, weights: Map<string, tf.Tensor2D>, dir: string, options: { steps: number; resume?: boolean }) {
  const model = legacyRun.inject(method, weights);
  const losses: number[] = [];
  await train({
    model,
    data: indexedBatches(LEGACY_TOY.batchAt),
    lossFn: (b) => LEGACY_TOY.loss(model, b),
    steps: options.steps,
    lr: 2e-2,
    checkpoint: { dir, every: LEGACY_CHECKPOINT_STEP, keepLast: 4 },
    resume: options.resume ?? false,
    onProgress: (e) => {
      losses.push(e.loss);
    },
  });
  return { model, losses };
}

/** The run's model before training; `seed` other than the run's gives other initial factors. */
legacyRun.inject = (method: keyof typeof LEGACY_CONFIGS, weights: Map<string, tf.Tensor2D>, seed?: number): AdapterModel =>
  injectAdapters(weights, { ...LEGACY_CONFIGS[method], ...(seed === undefined ? {} : { seed }) });

/** Writes this folder's files: `<method>.checkpoint.safetensors` (step 6) and `<method>.native.safetensors` (step 12). */
export async function writeLegacyFiles(target: string, scratch: string): Promise<void> {
  const weights = LEGACY_TOY.weights();
  for (const method of Object.keys(LEGACY_CONFIGS) as (keyof typeof LEGACY_CONFIGS)[]) {
    const dir = join(scratch, method);
    const { model } = await legacyRun(method, weights, dir, { steps: LEGACY_STEPS });
    writeFileSync(join(target, `${method}.native.safetensors`), serializeNativeAdapter(model.toNativeAdapter()));
    copyFileSync(join(dir, checkpointFileName(LEGACY_CHECKPOINT_STEP)), join(target, `${method}.checkpoint.safetensors`));
    model.dispose();
  }
  tf.dispose([...weights.values()]);
}
