// The wasm matmul kernel with relaxed-SIMD FMA (f32x4.relaxed_madd) against
// the fp32 kernel, side by side in one process: GFLOP/s of tf.matMul on the
// training step's shapes, and tokens/s of a LoRA step (step-model.mjs: the
// dim-256, 4-layer Llama-shaped stack, 1024 tokens per step). Measurements
// alternate between the kernels (order swapped each round) so load from
// other processes hits both alike; CPU time (wasm runs single-threaded).
//
// The fused kernel is opt-in (setWasmGemmFma(true)); this bench is how to
// tell whether it pays on a given CPU.
//
// Node 20 hides relaxed SIMD behind --experimental-wasm-relaxed-simd: this
// script turns the V8 flag on for itself before any module is compiled, as
// the command-line flag would. V8 flags are per process, so worker threads
// see it too (checked below with a worker started with execArgv: []).
//
// Run: npm run bench -w @tsd-peft/tfjs (builds first; imports ../dist).
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { injectAdapters, setupBackend, setWasmGemmFma, wasmGemmFmaActive } from '../dist/index.js';
import { DIM, HIDDEN, RANK, ROWS, makeWeights, median, step } from './step-model.mjs';

const ROUNDS = Number(process.env.BENCH_STEPS ?? 6);
const REPEATS = 16;
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 22) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const backend = await setupBackend();
setWasmGemmFma(true);
if (!wasmGemmFmaActive()) {
  console.log(`relaxed-SIMD FMA kernel: not available on ${backend} / node ${process.version}; nothing to compare`);
  process.exit(0);
}
// tfjs-backend-wasm in a worker thread started with execArgv [] (as data-parallel training starts them).
const workerSees = await new Promise((resolve, reject) => {
  const probe = `const { parentPort, workerData } = require('node:worker_threads');
    import(workerData).then(async ({ setupBackend, setWasmGemmFma, wasmGemmFmaActive }) => {
      await setupBackend('wasm');
      setWasmGemmFma(true);
      parentPort.postMessage(wasmGemmFmaActive());
    });`;
  const worker = new Worker(probe, { eval: true, execArgv: [], workerData: new URL('../dist/index.js', import.meta.url).href });
  worker.once('message', (active) => worker.terminate().then(() => resolve(active)));
  worker.once('error', reject);
});
console.log(`node ${process.version}, ${backend}; FMA kernel active in a worker thread started with execArgv []: ${workerSees}`);

/** Runs `fn` with the FMA kernel on or off; returns its CPU milliseconds. */
function cpuMsWith(fma, fn) {
  setWasmGemmFma(fma);
  const t0 = process.cpuUsage();
  fn();
  const dt = process.cpuUsage(t0);
  return (dt.user + dt.system) / 1000;
}

/** Paired medians (fp32, fma) of `fn`'s CPU ms over ROUNDS rounds. */
function paired(fn) {
  const fp32 = [];
  const fma = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const on of order) (on ? fma : fp32).push(cpuMsWith(on, fn));
  }
  return [median(fp32), median(fma)];
}

// [label, aShape, bShape, transposeB]: the step's forward (x·Wᵀ), weight gradient (dYᵀ·X) and input gradient (dY·W).
const products = [
  ['x·Wᵀ q/k/v/o', [ROWS, DIM], [DIM, DIM], true],
  ['x·Wᵀ gate/up', [ROWS, DIM], [HIDDEN, DIM], true],
  ['x·Wᵀ down', [ROWS, HIDDEN], [DIM, HIDDEN], true],
  ['dY·W gate/up', [ROWS, HIDDEN], [HIDDEN, DIM], false],
  ['attention q·kᵀ', [32, 128, 64], [32, 128, 64], true],
];
console.log(`\nmatMul GFLOP/s, median of ${ROUNDS} paired runs of ${REPEATS} products each`);
console.log('product            shape                      fp32    FMA   FMA/fp32');
for (const [label, aShape, bShape, transposeB] of products) {
  const a = tf.randomNormal(aShape, 0, 1, 'float32', 1);
  const b = tf.randomNormal(bShape, 0, 1, 'float32', 2);
  const [m, k] = aShape.slice(-2);
  const n = transposeB ? bShape.at(-2) : bShape.at(-1);
  const batch = aShape.length === 3 ? aShape[0] : 1;
  const flops = REPEATS * 2 * batch * m * n * k;
  // wasm runs each kernel synchronously when the op is called; reading the result back is not part of the product
  const run = () => {
    for (let i = 0; i < REPEATS; i++) tf.matMul(a, b, false, transposeB).dispose();
  };
  cpuMsWith(true, run);
  cpuMsWith(false, run);
  const [fp32Ms, fmaMs] = paired(run);
  const gflops = (ms) => flops / (ms / 1000) / 1e9;
  const shape = `[${aShape}]·[${bShape}]${transposeB ? 'ᵀ' : ''}`;
  console.log(`${label.padEnd(19)}${shape.padEnd(25)}${gflops(fp32Ms).toFixed(1).padStart(7)}${gflops(fmaMs).toFixed(1).padStart(7)}${(fp32Ms / fmaMs).toFixed(2).padStart(9)}×`);
  tf.dispose([a, b]);
}

const weights = makeWeights();
const x = tf.randomNormal([ROWS, DIM], 0, 1, 'float32', 7);
const lora = injectAdapters(weights, { method: 'lora', r: RANK, alpha: 16, targetModules: 'all-linear' });
for (const on of [true, false]) cpuMsWith(on, () => step(lora, x, 0));
let round = 0;
const [fp32Step, fmaStep] = paired(() => step(lora, x, 100 + round++));
const tokensPerSecond = (ms) => ROWS / (ms / 1000);
console.log(`\nLoRA step (all-linear, r=${RANK}, ${ROWS} tokens), median of ${ROUNDS} paired steps, CPU time`);
console.log(`fp32 kernel  ${fp32Step.toFixed(1)} ms  ${tokensPerSecond(fp32Step).toFixed(0)} tokens/s`);
console.log(`FMA kernel   ${fmaStep.toFixed(1)} ms  ${tokensPerSecond(fmaStep).toFixed(0)} tokens/s  (${(fp32Step / fmaStep).toFixed(2)}×)`);
lora.dispose();
tf.dispose([...weights.values(), x]);
