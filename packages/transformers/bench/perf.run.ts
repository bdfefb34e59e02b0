/**
 * One measured configuration of the perf bench, in its own process (so its
 * peak RSS is its own): trains `steps` steps of `method` on the synthetic
 * Llama, either in this thread with the plain trainer (`workers: 1`, the
 * single-worker baseline) or data-parallel over `workers` threads, and
 * prints one JSON line. tokens/s counts the steps after `warmup` (the first
 * steps allocate wasm memory and, for LoRA-Dash, launch).
 * Arguments: one JSON object (RunArgs); bundled from sources by perf.mjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, train, type ProgressEvent } from '@tsd-peft/tfjs';
import { trainDataParallel } from '@tsd-peft/tfjs/node';
import { BATCH, perfJob, SEQ, wasmHeapBytes, type PerfJobOptions, type PerfMethod } from './perf.model.js';

interface RunArgs {
  method: PerfMethod;
  workers: number;
  /** Rows of the global batch to train on (default all; the ceiling runs use half). */
  rows?: number;
  /** A real model shape instead of the toy model (perf.shapes.ts). */
  shape?: PerfJobOptions['shape'];
  gradientCheckpointing?: boolean;
  pretransposeFrozen?: boolean;
  frozenDtype?: PerfJobOptions['frozenDtype'];
  /** Epoch milliseconds to wait for after setup, so that side-by-side runs train at the same time. */
  startAt?: number;
  steps: number;
  warmup: number;
  /** The bundled perf.worker.mjs (data-parallel runs). */
  workerScript: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as RunArgs;
await setupBackend('wasm');
const baselineRss = process.memoryUsage().rss;
const before = tf.memory().numBytes;
const elapsed: number[] = [];
// process CPU time (all threads) and wall time over the timed steps: their
// ratio is the parallelism the run actually got on a shared machine
let cpuAtWarmup = process.cpuUsage();
let wallAtWarmup = performance.now();
let cpuSeconds = 0;
let wallSeconds = 0;
const onProgress = (e: ProgressEvent) => {
  elapsed.push(e.elapsedSeconds);
  if (e.step === args.warmup) {
    cpuAtWarmup = process.cpuUsage();
    wallAtWarmup = performance.now();
  } else if (e.step === args.steps) {
    const cpu = process.cpuUsage(cpuAtWarmup);
    cpuSeconds = (cpu.user + cpu.system) / 1e6;
    wallSeconds = (performance.now() - wallAtWarmup) / 1000;
  }
};
const rows = args.rows ?? args.shape?.batch ?? BATCH;
const seq = args.shape?.seq ?? SEQ;
const workerData: PerfJobOptions = { method: args.method, steps: args.steps, rows };
if (args.shape !== undefined) workerData.shape = args.shape;
if (args.gradientCheckpointing === true) workerData.gradientCheckpointing = true;
if (args.pretransposeFrozen !== undefined) workerData.pretransposeFrozen = args.pretransposeFrozen;
if (args.frozenDtype !== undefined) workerData.frozenDtype = args.frozenDtype;
// A run that does not fit the 32-bit wasm heap reports how far it got instead of crashing the bench.
function reportFailure(error: unknown): never {
  console.log(
    JSON.stringify({
      method: args.method,
      workers: args.workers,
      error: error instanceof Error ? error.message.split('\n')[0] : String(error),
      stepsDone: elapsed.length,
      wasmHeapBytes: wasmHeapBytes(),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  );
  process.exit(0);
}
if (args.startAt !== undefined) await new Promise((resolve) => setTimeout(resolve, Math.max(0, (args.startAt as number) - Date.now())));
const started = performance.now();
let launched = 0;
let stateBytes = 0;
let heapBytes: number[] = [];
let exchangeSeconds: number[] = [];
let exchangeWaitSeconds: number[] = [];
let threadCpuSeconds: (number | null)[] = [];
try {
  if (args.workers === 1) {
    const job = perfJob({ rank: 0, worldSize: 1, workerData });
    const { lossWeight: _w, collect, dispose, ...options } = job;
    const result = await train({
      ...options,
      onProgress: (e) => {
        // model weights, trainable copies, Adam moments and caches: what stays allocated between steps
        if (e.step === 1) stateBytes = tf.memory().numBytes - before;
        onProgress(e);
      },
    });
    launched = (collect?.(result) as { launched: number } | undefined)?.launched ?? 0;
    heapBytes = [wasmHeapBytes()];
    dispose?.();
  } else {
    const result = await trainDataParallel({ worker: args.workerScript, workers: args.workers, workerData, onProgress });
    const outputs = result.outputs as { launched: number; wasmHeapBytes: number }[];
    launched = (outputs[0] as { launched: number }).launched;
    heapBytes = outputs.map((o) => o.wasmHeapBytes);
    exchangeSeconds = result.exchangeSeconds;
    exchangeWaitSeconds = result.exchangeWaitSeconds;
    threadCpuSeconds = (result.outputs as { threadCpuSeconds?: number | null }[]).map((o) => o.threadCpuSeconds ?? null);
  }
} catch (error) {
  reportFailure(error);
}
const wall = (performance.now() - started) / 1000;
const timed = args.steps - args.warmup;
const seconds = (elapsed[args.steps - 1] as number) - (elapsed[args.warmup - 1] as number);
const tokens = rows * (seq - 1) * timed;
console.log(
  JSON.stringify({
    method: args.method,
    workers: args.workers,
    tokensPerSecond: tokens / seconds,
    stepSeconds: seconds / timed,
    tokensPerCpuSecond: tokens / cpuSeconds,
    parallelism: cpuSeconds / wallSeconds,
    wallSeconds: wall,
    launched,
    stateBytes,
    /** Per rank, seconds spent exchanging gradients over the whole run (data-parallel runs). */
    exchangeSeconds,
    /** The part of it each rank waited at barriers for the slower rank. */
    exchangeWaitSeconds,
    /** Each rank's worker-thread CPU seconds over the whole run (Linux; null elsewhere). */
    threadCpuSeconds,
    /** Each replica's wasm heap at the end (it never shrinks: the peak). */
    wasmHeapBytes: heapBytes,
    /** Seconds of each step, warm-up included (LoRA-Dash's launch falls in step t + 1's). */
    stepTimes: elapsed.map((t, i) => t - (i === 0 ? 0 : (elapsed[i - 1] as number))),
    baselineRssBytes: baselineRss,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
