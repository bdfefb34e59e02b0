// Whether a pre-transposed copy of a frozen weight pays for its memory on
// wasm (the default of `pretransposeFrozen` / FrozenLinear's `pretranspose`):
// x·Wᵀ as matMul(x, W, transposeB) against matMul(x, Wᵀ) on a kept [in, out]
// copy, and the input gradient dy·W both ways, on our wasm kernel and on
// TF.js's stock kernel, for row counts from token-by-token generation (1, 16)
// to a training batch (1024 = 4 × 256) at SmolLM2-135M and Llama-3.2-1B
// widths. Rounds alternate the layouts; medians of CPU time.
//
// Run: node packages/tfjs/bench/pretranspose.bench.mjs after a build.
// BENCH_ROUNDS (default 5) sets the rounds.
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, setWasmGemmEnabled } from '../dist/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SHAPES = [
  // [rows, in, out]
  [1, 576, 1536],
  [16, 576, 1536],
  [64, 576, 576],
  [1024, 576, 1536],
  [16, 2048, 8192],
  [1024, 2048, 2048],
];

await setupBackend('wasm');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function cpuMs(fn, reps) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const y = fn();
    y.dataSync();
    y.dispose();
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000 / reps;
}

console.log(`node ${process.version}, wasm; median of ${ROUNDS} alternating rounds, CPU ms per product (ratio > 1: the copy is faster)`);
for (const kernel of ['ours', 'stock']) {
  setWasmGemmEnabled(kernel === 'ours');
  console.log(`\n${kernel === 'ours' ? "tsd-peft's wasm kernel" : "TF.js's stock wasm kernel"}`);
  console.log('rows × in → out          x·Wᵀ flag   x·(Wᵀ) copy  ratio | dy·W        dy·(Wᵀ)ᵀ     ratio');
  for (const [m, k, n] of SHAPES) {
    const x = tf.randomNormal([m, k]);
    const W = tf.randomNormal([n, k]); // [out, in], as stored
    const Wt = tf.transpose(W);
    const dy = tf.randomNormal([m, n]);
    const reps = Math.max(1, Math.round(2e8 / (m * k * n)));
    const t = { fwdFlag: [], fwdCopy: [], bwdW: [], bwdCopy: [] };
    for (let r = 0; r < ROUNDS; r++) {
      t.fwdFlag.push(cpuMs(() => tf.matMul(x, W, false, true), reps));
      t.fwdCopy.push(cpuMs(() => tf.matMul(x, Wt), reps));
      t.bwdW.push(cpuMs(() => tf.matMul(dy, W), reps));
      t.bwdCopy.push(cpuMs(() => tf.matMul(dy, Wt, false, true), reps));
    }
    const [a, b, c, d] = [t.fwdFlag, t.fwdCopy, t.bwdW, t.bwdCopy].map(median);
    const f = (v) => v.toFixed(3).padStart(9);
    console.log(`${`${m} × ${k} → ${n}`.padEnd(22)} ${f(a)}  ${f(b)}  ${(a / b).toFixed(2).padStart(5)}× | ${f(c)}  ${f(d)}  ${(d / c).toFixed(2).padStart(5)}×`);
    tf.dispose([x, W, Wt, dy]);
  }
}
setWasmGemmEnabled(true);
