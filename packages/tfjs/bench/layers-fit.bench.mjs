// model.fit step time of @tsd-peft/tfjs/layers adapters against full
// fine-tuning, on the active TF.js backend (wasm in Node).
//
// A Dense MLP 256 → 512 → 512 → 256 → 10 (softmax), batches of 256 rows.
// full: the plain model, every weight trainable. LoRA / LoRA-Dash: r = 8
// (s = 8) on the three hidden Dense layers, everything else frozen;
// LoRA-Dash launches (t = 2) during the warm-up fit, so the timed steps
// carry the dash term. Prints wall and CPU ms per optimizer step (best of
// REPEATS interleaved fits of STEPS batches each) and the ratios; on a
// shared machine trust the CPU column (wasm in Node is single-threaded).
//
// Run: npm run bench -w @tsd-peft/tfjs (builds first; imports ../dist).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { setupBackend } from '../dist/index.js';
import { adapterLayers, applyAdapters } from '../dist/layers/index.js';

const ROWS = 256;
const STEPS = Number(process.env.BENCH_FIT_STEPS ?? 20);
const REPEATS = Number(process.env.BENCH_FIT_REPEATS ?? 7);

function baseModel() {
  const init = (seed) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 512, inputShape: [256], activation: 'relu', name: 'h1', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: 512, activation: 'relu', name: 'h2', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: 256, activation: 'relu', name: 'h3', kernelInitializer: init(3) }),
      tfl.layers.dense({ units: 10, activation: 'softmax', name: 'out', kernelInitializer: init(4) }),
    ],
  });
}

/** Compiles and warms up (3 steps: kernels compiled, LoRA-Dash launched). */
async function warm(model, x, y, callbacks) {
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const [xs, ys] = [x.slice(0, 3 * ROWS), y.slice(0, 3 * ROWS)];
  await model.fit(xs, ys, { epochs: 1, batchSize: ROWS, shuffle: false, verbose: 0, callbacks });
  tf.dispose([xs, ys]);
}

/** Wall and CPU (user + system) milliseconds per step of one fit; wasm runs on one thread, so CPU time ≈ uncontended wall time. */
async function timeFit(model, x, y, callbacks) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await model.fit(x, y, { epochs: 1, batchSize: ROWS, shuffle: false, verbose: 0, callbacks });
  const wall = (performance.now() - t0) / STEPS;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 / STEPS };
}

const backend = await setupBackend();
const x = tf.randomNormal([STEPS * ROWS, 256], 0, 1, 'float32', 5);
const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([256, 10], 0, 1, 'float32', 6)), 1), 10).toFloat();

const runs = { full: { model: baseModel(), callbacks: [] } };
for (const method of ['lora', 'lora-dash']) {
  const { model, callback } = await applyAdapters(baseModel(), { method, targetLayers: ['h1', 'h2', 'h3'], r: 8, alpha: 16, s: 8, t: 2 });
  runs[method] = { model, callbacks: [callback] };
}
for (const { model, callbacks } of Object.values(runs)) await warm(model, x, y, callbacks);
if (!adapterLayers(runs['lora-dash'].model).every((l) => l.adapter.launched)) throw new Error('LoRA-Dash did not launch in the warm-up');
// Interleaved, so drift in a shared machine's speed hits every method alike.
const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let i = 0; i < REPEATS; i++) {
  for (const [name, { model, callbacks }] of Object.entries(runs)) times[name].push(await timeFit(model, x, y, callbacks));
}
// Best of REPEATS: on a shared machine the fastest fit is the least disturbed one.
const best = (key) => Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Math.min(...v.map((t) => t[key]))]));
const wall = best('wall');
const cpu = best('cpu');

console.log(`backend ${backend}; MLP 256-512-512-256-10, batch ${ROWS}, best of ${REPEATS} interleaved fits × ${STEPS} steps`);
console.log('method      wall ms/step  cpu ms/step');
for (const name of Object.keys(runs)) console.log(`${name.padEnd(10)} ${wall[name].toFixed(2).padStart(13)} ${cpu[name].toFixed(2).padStart(12)}`);
const ratio = (a, b) => `${(wall[a] / wall[b]).toFixed(3)} wall, ${(cpu[a] / cpu[b]).toFixed(3)} cpu`;
console.log(`LoRA-Dash / LoRA ${ratio('lora-dash', 'lora')}`);
console.log(`LoRA-Dash / full ${ratio('lora-dash', 'full')}`);
console.log(`LoRA / full      ${ratio('lora', 'full')}`);
