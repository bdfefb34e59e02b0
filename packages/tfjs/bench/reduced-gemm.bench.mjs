// Frozen weights in reduced precision on the wasm kernel (issue #19 item 2):
// GFLOP/s of x·Wᵀ (a linear layer's forward) and dy·W (its input gradient)
// with W in fp32 (tf.matMul on our fp32 kernel), bfloat16, blockwise int8,
// int8 with zero points (a q8 file's uint8 codes, one scale and zero point per
// tensor) and packed 4-bit codes (a q4 file's MatMulNBits blocks of 32)
// (reducedMatMul: codes converted while B's panels are packed), on the linear
// shapes of SmolLM2-135M, Qwen2.5-0.5B and Llama-3.2-1B at 1024 tokens (batch
// 4 × 256); then a 1024-token embedding lookup in each model's tied table.
// Runs alternate between the three (order rotated each round) so load from
// other processes hits all alike; medians of CPU time (wasm runs
// single-threaded). Bytes are those W holds on the heap.
//
// Run: npm run bench -w @tsd-peft/tfjs (builds first; imports ../dist), or
// node packages/tfjs/bench/reduced-gemm.bench.mjs after a build.
// BENCH_ROUNDS (default 5) sets the rounds; BENCH_QUICK=1 keeps the small shapes.
import * as tf from '@tensorflow/tfjs-core';
import { ReducedWeight, reducedGather, reducedMatMul, setupBackend, setWasmGemmFma } from '../dist/index.js';
import { int8BlocksPerRow } from '@tsd-peft/core';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const QUICK = process.env.BENCH_QUICK === '1';
const TOKENS = 1024;
const DTYPES = ['float32', 'bfloat16', 'int8', 'q8', 'q4'];

const backend = await setupBackend('wasm');
setWasmGemmFma(false);
console.log(`node ${process.version}, ${backend}; ${TOKENS} tokens; median of ${ROUNDS} rotated rounds, CPU time`);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function cpuMs(fn) {
  const t0 = process.cpuUsage();
  fn();
  const dt = process.cpuUsage(t0);
  return (dt.user + dt.system) / 1000;
}
/** Medians of each run's CPU ms, the runs rotated each round. */
function rotated(runs) {
  const times = runs.map(() => []);
  for (const run of runs) cpuMs(run); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < runs.length; i++) {
      const at = (i + round) % runs.length;
      times[at].push(cpuMs(runs[at]));
    }
  }
  return times.map(median);
}

/** Random codes in a file's layout: q8 as uint8 − 128 with one zero point per tensor, q4 as signed nibbles. */
function fileCodes(rows, cols, kind) {
  const blocks = rows * int8BlocksPerRow(cols, 32);
  const bytes = kind === 'q4' ? Math.ceil((rows * cols) / 2) : rows * cols;
  const codes = Uint8Array.from({ length: bytes }, () => (Math.random() * 256) | 0);
  const scales = new Float32Array(blocks).fill(kind === 'q4' ? 0.003 : 0.0004);
  const encoded = { dtype: 'int8', rows, cols, codes, scales, blockSize: 32 };
  return ReducedWeight.fromEncoded(kind === 'q4' ? { ...encoded, bits: 4 } : { ...encoded, zeroPoints: new Int8Array(blocks).fill(-3) });
}
/** A weight [rows, cols] in each dtype: the fp32 tensor, and ReducedWeights (the file layouts hold random codes of the same size). */
function weightIn(rows, cols, seed) {
  const dense = tf.randomNormal([rows, cols], 0, 0.02, 'float32', seed);
  return {
    float32: dense,
    bfloat16: ReducedWeight.fromTensor(dense, 'bfloat16'),
    int8: ReducedWeight.fromTensor(dense, 'int8'),
    q8: fileCodes(rows, cols, 'q8'),
    q4: fileCodes(rows, cols, 'q4'),
  };
}
const bytesOf = (w, dtype) => (dtype === 'float32' ? 4 * w.float32.size : w[dtype].bytes);
const disposeWeight = (w) => {
  for (const dtype of DTYPES) w[dtype].dispose();
};

// [model, module, W rows (out), W cols (in)]
const linears = [
  ['SmolLM2-135M', 'q_proj', 576, 576],
  ['SmolLM2-135M', 'up_proj', 1536, 576],
  ['SmolLM2-135M', 'down_proj', 576, 1536],
  ['Qwen2.5-0.5B', 'q_proj', 896, 896],
  ['Qwen2.5-0.5B', 'up_proj', 4864, 896],
  ['Llama-3.2-1B', 'q_proj', 2048, 2048],
  ['Llama-3.2-1B', 'up_proj', 8192, 2048],
].filter(([, , rows, cols]) => !QUICK || rows * cols <= 1536 * 576);

console.log('\nGFLOP/s                                              fp32    bf16    int8  int8+zp  4-bit  bf16/fp32 int8/fp32 zp/fp32 4-bit/fp32   MB fp32/bf16/int8/zp/4-bit');
for (const [model, module, rows, cols] of linears) {
  const w = weightIn(rows, cols, rows + cols);
  for (const transposeW of [true, false]) {
    const k = transposeW ? cols : rows;
    const x = tf.randomNormal([TOKENS, k], 0, 1, 'float32', 3);
    const runs = DTYPES.map((dtype) => () => (dtype === 'float32' ? tf.matMul(x, w.float32, false, transposeW) : reducedMatMul(x, w[dtype], transposeW)).dispose());
    const ms = rotated(runs);
    const gflops = ms.map((t) => (2 * TOKENS * rows * cols) / (t / 1000) / 1e9);
    const what = transposeW ? `x·Wᵀ [${TOKENS},${cols}]·[${rows},${cols}]ᵀ` : `dy·W  [${TOKENS},${rows}]·[${rows},${cols}]`;
    const mb = DTYPES.map((dtype) => (bytesOf(w, dtype) / 2 ** 20).toFixed(1)).join('/');
    console.log(
      `${`${model} ${module}`.padEnd(23)}${what.padEnd(30)}${gflops.map((g) => g.toFixed(1).padStart(8)).join('')}${ms
        .slice(1)
        .map((t) => `${(ms[0] / t).toFixed(2).padStart(9)}×`)
        .join('')}   ${mb}`,
    );
    x.dispose();
  }
  disposeWeight(w);
}

// Embedding lookups of 1024 ids: tf.gather on the fp32 table, reducedGather on codes (only the gathered rows decoded).
console.log('\nembedding lookup of 1024 ids, ms                     fp32    bf16    int8 int8+zp   4-bit');
const tables = [
  ['SmolLM2-135M', 49152, 576],
  ['Qwen2.5-0.5B', 151936, 896],
].filter(([, vocab]) => !QUICK || vocab <= 49152);
for (const [model, vocab, width] of tables) {
  const w = weightIn(vocab, width, 5);
  const ids = tf.randomUniform([TOKENS], 0, vocab, 'int32', 9);
  const runs = DTYPES.map((dtype) => () => (dtype === 'float32' ? tf.gather(w.float32, ids) : reducedGather(w[dtype], ids)).dispose());
  const ms = rotated(runs);
  console.log(`${`${model} [${vocab}, ${width}]`.padEnd(53)}${ms.map((t) => t.toFixed(2).padStart(8)).join('')}`);
  ids.dispose();
  disposeWeight(w);
}
