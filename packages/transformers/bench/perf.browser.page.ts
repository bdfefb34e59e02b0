/**
 * The page of perf.browser.mjs: one real-shape training run (perf.model.ts's
 * job: random weights in the exact shapes, LoRA r = 8 on q/v, Adam) in the
 * browser's wasm backend, reporting step times and the wasm heap on
 * `globalThis.__perf`. Parameters come in the URL's hash as JSON.
 */
import { setupBackend, train } from '@tsd-peft/tfjs';
import { perfJob, wasmHeapBytes, type PerfJobOptions } from './perf.model.js';

/** What the page reports. */
export interface BrowserPerfState {
  phase: 'running' | 'done' | 'failed';
  error: string;
  /** Seconds to build the random model (drawing and encoding the weights). */
  buildSeconds: number;
  /** Seconds of each step. */
  stepTimes: number[];
  /** The wasm heap after each step (it only grows: the last is the peak). */
  wasmHeapBytes: number[];
  /** Chromium's used JS heap at the end (performance.memory), 0 where absent. */
  jsHeapBytes: number;
}

const state: BrowserPerfState = { phase: 'running', error: '', buildSeconds: 0, stepTimes: [], wasmHeapBytes: [], jsHeapBytes: 0 };
(globalThis as { __perf?: BrowserPerfState }).__perf = state;

async function run(): Promise<void> {
  const options = JSON.parse(decodeURIComponent(location.hash.slice(1))) as PerfJobOptions;
  await setupBackend('wasm', { wasmPaths: new URL('tfjs-wasm/', location.href).href });
  const t0 = performance.now();
  const job = perfJob({ rank: 0, worldSize: 1, workerData: options });
  state.buildSeconds = (performance.now() - t0) / 1000;
  state.wasmHeapBytes.push(wasmHeapBytes());
  const { lossWeight: _w, collect: _c, dispose, ...trainOptions } = job;
  let last = 0;
  await train({
    ...trainOptions,
    onProgress: (e) => {
      state.stepTimes.push(e.elapsedSeconds - last);
      last = e.elapsedSeconds;
      state.wasmHeapBytes.push(wasmHeapBytes());
    },
  });
  dispose?.();
  state.jsHeapBytes = (performance as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
}

run().then(
  () => {
    state.phase = 'done';
  },
  (error: unknown) => {
    state.error = error instanceof Error ? error.message : String(error);
    state.phase = 'failed';
  },
);
