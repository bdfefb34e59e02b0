/**
 * Data-parallel training against a single replica on the same global batch:
 * real worker threads on the wasm backend, real injected LoRA-Dash adapters
 * (launching mid-run) and Adam. The worker module is bundled from these
 * sources (worker threads cannot use vitest's aliases).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupBackend } from '../backend/setup.js';
import { train } from '../trainer/train.js';
import { trainDataParallel, type DataParallelResult } from './data-parallel.js';
import { bundleWorkerEntry } from './test-fixtures/bundle.js';
import { toyJob, type ToyJobOptions, type ToyOutput } from './test-fixtures/toy-job.js';
import type { ProgressEvent } from '../trainer/progress.js';

let worker = '';
const dirs: string[] = [];
beforeAll(async () => {
  worker = await bundleWorkerEntry(fileURLToPath(new URL('./test-fixtures/toy-worker.ts', import.meta.url)), 'toy-worker');
  await setupBackend('wasm');
});
afterAll(() => {
  rmSync(worker, { force: true });
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsd-dp-'));
  dirs.push(dir);
  return dir;
};

// 5 rows over 2 replicas: shards of 2 and 3 rows, weighted by rows.
const base: ToyJobOptions = { method: 'lora-dash', steps: 8, rows: 5, t: 3 };

/** The same job in this process with the plain trainer (the single-replica reference). */
async function inProcess(options: ToyJobOptions): Promise<ToyOutput> {
  const job = toyJob({ rank: 0, worldSize: 1, workerData: options });
  const { lossWeight: _w, collect, dispose, ...trainOptions } = job;
  try {
    return collect?.(await train(trainOptions)) as ToyOutput;
  } finally {
    dispose?.();
  }
}

const run = (options: ToyJobOptions, workers: number, extra: Partial<Parameters<typeof trainDataParallel>[0]> = {}) =>
  trainDataParallel({ worker, workers, workerData: options, verifyEvery: 2, ...extra });

function maxAbsDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let m = 0;
  for (const [name, values] of Object.entries(a)) {
    const other = b[name] as number[];
    values.forEach((v, i) => (m = Math.max(m, Math.abs(v - (other[i] as number)))));
  }
  return m;
}

describe('trainDataParallel', () => {
  let single: ToyOutput;
  let one: DataParallelResult;
  let two: DataParallelResult;
  const events: ProgressEvent[] = [];

  beforeAll(async () => {
    single = await inProcess(base);
    one = await run(base, 1);
    two = await run(base, 2, { onProgress: (e) => void events.push(e) });
  });

  it('with one worker equals the plain trainer bit for bit', () => {
    const out = one.outputs[0] as ToyOutput;
    expect(out.lossHistory).toEqual(single.lossHistory);
    expect(out.weights).toEqual(single.weights);
    expect(out.dashSelected).toEqual(single.dashSelected);
  });

  it('with two workers equals the single-replica run within fp32 reduction tolerance', () => {
    const [r0, r1] = two.outputs as [ToyOutput, ToyOutput];
    // replicas are bit-identical (same averaged gradient, same Adam code)
    expect(r1.weights).toEqual(r0.weights);
    expect(two.lossHistory).toEqual(r0.lossHistory);
    // LoRA-Dash launched on both, after step t, with the single run's directions
    expect(Object.keys(r0.dashSelected).sort()).toEqual(['fc1', 'fc2']);
    expect(r0.dashSelected).toEqual(single.dashSelected);
    expect(r0.weights['fc1.dash_d']).toBeDefined();
    // Shard losses and gradients are summed in another order than the single
    // replica's (2 + 3 rows, then a weighted mean): ~1e-7 relative per step.
    // Measured after 8 Adam steps: weights within 3e-8, losses within 1.2e-7;
    // 1e-6 leaves a margin of ~10.
    two.lossHistory.forEach((loss, i) => expect(Math.abs(loss - (single.lossHistory[i] as number))).toBeLessThan(1e-6 * Math.max(1, loss)));
    expect(maxAbsDiff(r0.weights, single.weights)).toBeLessThan(1e-6);
    // and it really trained (not a no-op that would match trivially)
    expect(maxAbsDiff(r0.weights, (one.outputs[0] as ToyOutput).weights)).toBeGreaterThan(0);
    expect(two.lossHistory.at(-1)).toBeLessThan(two.lossHistory[0] as number);
  });

  it('keeps the tensor count flat across steps in every worker (the all-reduce frees what it replaces)', () => {
    for (const out of two.outputs as ToyOutput[]) {
      // the launch after step 3 adds d and the frozen dash bases; afterwards nothing may grow
      const afterLaunch = out.tensorCounts.slice(4);
      expect(afterLaunch).toHaveLength(4);
      expect(new Set(afterLaunch).size).toBe(1);
    }
  });

  it('reports rank 0 progress with the tokens (rows) of every replica', () => {
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.map((e) => e.loss)).toEqual(two.lossHistory);
    // rows/s over both shards: 5 rows a step; positive and finite
    for (const e of events) expect(e.tokensPerSecond).toBeGreaterThan(0);
  });

  it('gives three workers the same bits whether the gradients go in one chunk or in chunks of 7 floats', async () => {
    // 7 floats: chunk boundaries fall inside every tensor, each rank's block is 2 or 3 floats
    const [whole, chunked] = [await run(base, 3), await run(base, 3, { chunkElements: 7 })];
    const outs = [...(whole.outputs as ToyOutput[]), ...(chunked.outputs as ToyOutput[])];
    for (const out of outs) {
      expect(out.weights).toEqual((outs[0] as ToyOutput).weights);
      expect(out.lossHistory).toEqual((outs[0] as ToyOutput).lossHistory);
    }
    // shards of 1, 2 and 2 rows: the single replica's result within the tolerance above
    expect(maxAbsDiff((outs[0] as ToyOutput).weights, single.weights)).toBeLessThan(1e-6);
    for (const result of [whole, chunked]) {
      expect(result.exchangeWaitSeconds).toHaveLength(3);
      result.exchangeWaitSeconds.forEach((wait, rank) => {
        expect(wait).toBeGreaterThanOrEqual(0);
        expect(wait).toBeLessThanOrEqual(result.exchangeSeconds[rank] as number);
      });
    }
  });

  it('resumes every replica from rank 0’s checkpoint after the launch, bit for bit', async () => {
    const dir = tempDir();
    const options = { ...base, checkpointDir: dir, checkpointEvery: 2 };
    const first = await run({ ...options, steps: 5 }, 2); // launch at 3, checkpoint at 4 and 5
    expect(first.lastCheckpoint).toMatch(/checkpoint-00000005\.safetensors$/);
    const resumed = await run({ ...options, resume: true }, 2);
    expect(resumed.resumedFromStep).toBe(5);
    const [r0, r1] = resumed.outputs as [ToyOutput, ToyOutput];
    const [u0] = two.outputs as [ToyOutput];
    expect(r1.resumedFromStep).toBe(5);
    expect(r0.lossHistory).toEqual(u0.lossHistory);
    expect(r0.weights).toEqual(u0.weights);
    expect(r0.dashSelected).toEqual(u0.dashSelected);
  });

  it('stops all replicas after the same step when the signal fires', async () => {
    const controller = new AbortController();
    controller.abort(); // before the start: rank 0 sees it in step 1's exchange
    const stopped = await run({ ...base, checkpointDir: tempDir() }, 2, { signal: controller.signal });
    expect(stopped.stopped).toBe('aborted');
    expect(stopped.completedSteps).toBe(1);
    expect((stopped.outputs as ToyOutput[]).map((o) => o.completedSteps)).toEqual([1, 1]);
    expect(stopped.lastCheckpoint).toMatch(/checkpoint-00000001\.safetensors$/);
  });

  it('rejects with the failing worker’s error and does not hang the others', async () => {
    const error = await run({ ...base, failRank: 1, failStep: 2 }, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^worker 1: planned failure at step 2/);
  });
});
