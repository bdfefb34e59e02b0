import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NonFiniteError } from '@tsd-peft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, type TrainerCheckpoint } from './checkpoint.js';
import { checkpointFileName } from './checkpoint-store.js';
import { directoryCheckpointStore } from './directory-store.js';
import { indexedBatches } from './data-source.js';
import type { ProgressEvent } from './progress.js';
import { linearWarmupDecay } from './schedules.js';
import { useBackend } from './test-fixtures/backend.js';
import { GrowingMlp, mseLoss, takeRows, toyDataset, type ToyBatch } from './test-fixtures/toy-models.js';
import { snapshotWeights, toyRun } from './test-fixtures/toy-run.js';
import { train } from './train.js';

const IN = 4;
const OUT = 2;
const data = toyDataset(8, 40, IN, OUT);
const batchAt = (i: number) =>
  takeRows(
    data,
    [0, 1, 2, 3, 4].map((j) => (5 * i + j) % 40),
    IN,
    OUT,
  );

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsd-train-'));
  dirs.push(dir);
  return dir;
};
const latestCheckpoint = async (dir: string): Promise<TrainerCheckpoint> => {
  const latest = await directoryCheckpointStore(dir).latest();
  if (latest === undefined) throw new Error(`no checkpoint in ${dir}`);
  return decodeCheckpoint(latest.bytes, latest.location);
};

// Everything runs on both the exact 'cpu' backend and 'wasm', Node's default.
describe.each(['cpu', 'wasm'] as const)('train on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('records the pre-update loss, follows the schedule, reports progress and evaluates', async () => {
    const model = new GrowingMlp({ seed: 3, inDim: IN, hidden: 6, outDim: OUT, growAt: Infinity });
    // The loss of step 1 must be the untouched model's loss on batch 0 (same ops → same bits).
    const initialLoss = tf.tidy(() => mseLoss(model, batchAt(0), IN, OUT).dataSync()[0] as number);
    const events: ProgressEvent[] = [];
    const schedule = linearWarmupDecay({ lr: 5e-2, warmupSteps: 2, totalSteps: 30 });
    const result = await train({
      model,
      data: indexedBatches(batchAt, (b: ToyBatch) => b.rows * OUT),
      lossFn: (b) => mseLoss(model, b, IN, OUT),
      steps: 30,
      lr: schedule,
      evaluate: { every: 7, run: (step) => ({ step2: step * 2 }) },
      onProgress: (e) => {
        events.push(e);
      },
    });
    expect(result.lossHistory[0]).toBe(initialLoss);
    expect(result.completedSteps).toBe(30);
    expect(result.resumedFromStep).toBeNull();
    expect(result.stopped).toBe('completed');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(result.lossHistory.slice(-5))).toBeLessThan(0.7 * mean(result.lossHistory.slice(0, 5)));
    expect(events.map((e) => e.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(events.map((e) => e.lr)).toEqual(Array.from({ length: 30 }, (_, i) => schedule(i)));
    expect(events.map((e) => e.loss)).toEqual(result.lossHistory);
    for (const e of events) {
      expect(e.totalSteps).toBe(30);
      expect(e.gradNorm).toBeGreaterThan(0);
      expect(e.tokensPerSecond).toBeGreaterThan(0);
      expect(e.etaSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(events.at(-1)?.etaSeconds).toBe(0);
    expect(events.at(-1)?.elapsedSeconds).toBeGreaterThanOrEqual(events[0]?.elapsedSeconds as number);
    expect(result.evalHistory.map(({ step, result: r }) => ({ step, result: r }))).toEqual([7, 14, 21, 28, 30].map((step) => ({ step, result: { step2: step * 2 } })));
    // each evaluation is timed by the trainer, in its own field (not hidden among the metrics)
    for (const record of result.evalHistory) expect(record.seconds).toBeGreaterThanOrEqual(0);
    expect(events.filter((e) => e.eval !== undefined).map((e) => e.step)).toEqual([7, 14, 21, 28, 30]);
    model.dispose();
  });

  it('keeps tf.memory().numTensors flat across steps (clip, accumulation, growth, checkpoints)', async () => {
    const counts: number[] = [];
    const { model } = await toyRun({
      steps: 24,
      growAt: 6,
      checkpointDir: tempDir(),
      checkpointEvery: 4,
      onProgress: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    // Relative to step 1 (3 variables + 6 Adam moments live then; earlier tests' leftovers may too):
    // growth after step 6 adds d, U and V (+3); d's two moments appear with its first gradient in
    // step 7 (+5). Otherwise not a single tensor comes or goes.
    expect(counts).toHaveLength(24);
    const base = counts[0] as number;
    expect(counts.map((c) => c - base)).toEqual([0, 0, 0, 0, 0, 3, ...Array.from({ length: 18 }, () => 5)]);
    model.dispose();
  });

  it('starts Adam state for a variable created mid-run at its first gradient and checkpoints it', async () => {
    const dir = tempDir();
    const { model } = await toyRun({ steps: 12, growAt: 5, checkpointDir: dir, checkpointEvery: 100 });
    const final = await latestCheckpoint(dir);
    expect(final.step).toBe(12);
    expect([...final.variables.keys()].sort()).toEqual(['dash.d', 'fc1.bias', 'fc1.weight', 'fc2.weight']);
    expect(final.optimizer.variables['dash.d']?.step).toBe(7); // launched after step 5: updated in steps 6..12
    expect(final.optimizer.variables['fc1.weight']?.step).toBe(12);
    expect(final.model?.meta).toEqual({ launched: true });
    expect(Object.keys(final.model?.tensors ?? {}).sort()).toEqual(['dash.U', 'dash.V']);
    expect(Array.from(final.variables.get('dash.d')?.data ?? [])).not.toEqual([0, 0]);
    model.dispose();
  });

  it('resumes from a checkpoint bit for bit, including a variable created after the resume point', async () => {
    const straight = await toyRun({ steps: 20, growAt: 7, checkpointDir: tempDir(), checkpointEvery: 5 });
    const straightWeights = snapshotWeights(straight.model);
    straight.model.dispose();

    for (const [crashAt, growAt] of [
      [13, 7], // resume after the growth (d and its Adam state come from the checkpoint)
      [8, 12], // resume before the growth (d is created by the resumed session)
    ] as const) {
      const dir = tempDir();
      const crash = new Error('simulated crash');
      await expect(
        toyRun({
          steps: 20,
          growAt,
          checkpointDir: dir,
          checkpointEvery: 5,
          onProgress: (e) => {
            if (e.step === crashAt) throw crash;
          },
        }),
      ).rejects.toBe(crash);
      const atCrash = await latestCheckpoint(dir);
      expect(atCrash.step).toBe(crashAt - (crashAt % 5));
      const resumed = await toyRun({ steps: 20, growAt, checkpointDir: dir, checkpointEvery: 5, resume: true });
      expect(resumed.result.resumedFromStep).toBe(atCrash.step);
      if (growAt === 7) {
        expect(resumed.result.lossHistory).toEqual(straight.result.lossHistory);
        // the evaluations' timings differ between the runs; their steps and results must not
        const untimed = (h: typeof straight.result.evalHistory) => h.map(({ step, result }) => ({ step, result }));
        expect(untimed(resumed.result.evalHistory)).toEqual(untimed(straight.result.evalHistory));
        expect(snapshotWeights(resumed.model)).toEqual(straightWeights);
      } else {
        const reference = await toyRun({ steps: 20, growAt, checkpointDir: tempDir(), checkpointEvery: 5 });
        expect(resumed.result.lossHistory).toEqual(reference.result.lossHistory);
        expect(snapshotWeights(resumed.model)).toEqual(snapshotWeights(reference.model));
        reference.model.dispose();
      }
      resumed.model.dispose();
    }
  });

  it('stops with NonFiniteError at a non-finite loss, before updating, keeping the last good checkpoint', async () => {
    const dir = tempDir();
    const model = new GrowingMlp({ seed: 3, inDim: IN, hidden: 6, outDim: OUT, growAt: Infinity });
    const poisoned = (i: number) => {
      const b = batchAt(i);
      if (i === 6) b.y[3] = Number.NaN; // the 7th step's batch
      return b;
    };
    const run = train({
      model,
      data: indexedBatches(poisoned),
      lossFn: (b) => mseLoss(model, b, IN, OUT),
      steps: 20,
      lr: 1e-2,
      checkpoint: { dir, every: 3 },
    });
    await expect(run).rejects.toThrow(NonFiniteError);
    await expect(run).rejects.toThrow(/loss is NaN in step 7.*tensor loss/);
    expect(readdirSync(dir)).toEqual([checkpointFileName(6)]);
    // Nothing was applied in step 7: the live weights are exactly the step-6 checkpoint's.
    const saved = await latestCheckpoint(dir);
    for (const [name, v] of model.trainableVariables()) expect(Array.from(v.dataSync())).toEqual(Array.from(saved.variables.get(name)?.data ?? []));
    model.dispose();
  });

  it('names the variable whose gradient went non-finite while the loss stayed finite', async () => {
    const model = new GrowingMlp({ seed: 3, inDim: IN, hidden: 6, outDim: OUT, growAt: Infinity });
    const w2 = model.trainableVariables().get('fc2.weight') as tf.Variable;
    // Identity in the forward pass; its backward pass injects NaN into fc2.weight's gradient at step 4.
    let step = 0;
    const poison = tf.customGrad((...inputs) => ({
      value: tf.clone(inputs[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => (step === 3 ? tf.mul(dy, Number.NaN) : tf.clone(dy)),
    }));
    const run = train({
      model,
      data: indexedBatches(batchAt),
      lossFn: (b, ctx) => {
        step = ctx.step;
        return tf.add(mseLoss(model, b, IN, OUT), tf.mul(tf.sum(poison(w2) as tf.Tensor), 0));
      },
      steps: 10,
      lr: 1e-2,
    });
    await expect(run).rejects.toThrow(NonFiniteError);
    await expect(run).rejects.toThrow(/gradient of fc2\.weight is NaN at flat index 0 in step 4.*tensor fc2\.weight, shape \[6, 2\]/);
    model.dispose();
  });

  it('on abort writes a checkpoint and returns; resume then completes the run', async () => {
    const dir = tempDir();
    const controller = new AbortController();
    const first = await toyRun({
      steps: 16,
      growAt: 3,
      checkpointDir: dir,
      checkpointEvery: 100,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.step === 6) controller.abort();
      },
    });
    expect(first.result.stopped).toBe('aborted');
    expect(first.result.completedSteps).toBe(6);
    expect(first.result.lastCheckpoint).toBe(join(dir, checkpointFileName(6)));
    first.model.dispose();
    const second = await toyRun({ steps: 16, growAt: 3, checkpointDir: dir, resume: true });
    expect(second.result.completedSteps).toBe(16);
    expect(second.result.lossHistory).toHaveLength(16);
    second.model.dispose();
  });

  it('restarts optimizer state of variables the model asks to reset', async () => {
    const direct = new GrowingMlp({ seed: 3, inDim: IN, hidden: 6, outDim: OUT, growAt: Infinity });
    const dir2 = tempDir();
    await train({
      model: direct,
      data: indexedBatches(batchAt),
      lossFn: (b) => mseLoss(direct, b, IN, OUT),
      steps: 10,
      lr: 1e-2,
      checkpoint: { dir: dir2, every: 100 },
      onProgress: (e) => {
        if (e.step === 4) direct.resetRequests.push('fc1.bias');
      },
    });
    const saved = await latestCheckpoint(dir2);
    expect(saved.optimizer.variables['fc1.bias']?.step).toBe(5); // reset after step 5, then steps 6..10
    expect(saved.optimizer.variables['fc1.weight']?.step).toBe(10);
    direct.dispose();
  });

  it('refuses to overwrite an existing run, and a resume into a model that cannot hold its variables', async () => {
    const dir = tempDir();
    const { model } = await toyRun({ steps: 6, growAt: 2, checkpointDir: dir, checkpointEvery: 3 });
    model.dispose();
    await expect(toyRun({ steps: 6, growAt: 2, checkpointDir: dir })).rejects.toThrow(ConfigError);
    // A model without restoreCheckpointState cannot recreate the late `dash.d`.
    const plain = new GrowingMlp({ seed: 4, inDim: 6, hidden: 10, outDim: 3, growAt: Infinity });
    const bare = { trainableVariables: () => plain.trainableVariables() };
    const rows = toyDataset(21, 48, 6, 3);
    const run = train({
      model: bare,
      data: indexedBatches((i) => takeRows(rows, [i % 48], 6, 3)),
      lossFn: (b) => mseLoss(plain, b, 6, 3),
      steps: 8,
      lr: 1e-2,
      optimizer: { type: 'adamw', weightDecay: 0.05 },
      checkpoint: { dir },
      resume: true,
    });
    await expect(run).rejects.toThrow(/no restoreCheckpointState/);
    expect(readFileSync(join(dir, checkpointFileName(6))).byteLength).toBeGreaterThan(0);
    await expect(train({ ...{ model: bare, data: indexedBatches(() => 0), lossFn: () => tf.scalar(0) }, steps: 1, lr: 1, resume: true })).rejects.toThrow(/resume: true needs checkpoint/);
    plain.dispose();
  });
});
