// The README's @tsd-peft/tfjs/layers example, on real data from the fixtures:
// 1. train a small text classifier (Embedding → mean pooling → Dense → Dense → Dense)
//    on SST-2 sentiment (fixtures data/sst2),
// 2. LoRA-Dash-fine-tune its two hidden Dense layers on a second task — is a
//    sentence from Shakespeare (data/tinyshakespeare) or from TinyStories
//    (data/tinystories)? — with the embedding and the head frozen,
// 3. print accuracies before / after, parameter counts, the TSDs LoRA-Dash
//    launched on, check that the merged plain model gives the same accuracy, and
//    compare with plain LoRA of the same rank.
//
// Run: npm run build -w @tsd-peft/tfjs && node packages/tfjs/bench/layers-example.mjs
// (TSD_FIXTURES points at the fixtures folder; default ../shared beside the repo.)
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fixturePath } from '@tsd-peft/core/testing';
import { setupBackend } from '../dist/index.js';
import { adapterLayers, applyAdapters, mergeAndUnload } from '../dist/layers/index.js';

const VOCAB = 5000;
const MAX_LEN = 32;
const SST_TRAIN = 20000;

/** Deterministic Fisher–Yates with a small LCG, so every run sees the same order. */
function shuffled(items, seed) {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const tokens = (text) => text.toLowerCase().match(/[a-z']+|[.,!?;]/g) ?? [];

function readSst(file, limit) {
  const rows = readFileSync(fixturePath('data', 'sst2', file), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  return rows.slice(0, limit).map((row) => {
    const [sentence, label] = row.split('\t');
    return { text: sentence, label: Number(label) };
  });
}

/** Sentences of at least 4 words: Shakespeare's speech lines (not speaker names) and TinyStories' sentences. */
function readSourceTask() {
  const shakespeare = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8')
    .split('\n')
    .filter((l) => !l.trim().endsWith(':') && tokens(l).length >= 4);
  const stories = readFileSync(fixturePath('data', 'tinystories', 'tinystories_val.txt'), 'utf8')
    .split(/(?<=[.!?])\s+/)
    .filter((l) => tokens(l).length >= 4);
  const take = (lines, label, seed) =>
    shuffled(lines, seed)
      .slice(0, 3500)
      .map((text) => ({ text, label }));
  const all = shuffled([...take(shakespeare, 1, 1), ...take(stories, 0, 2)], 3);
  return { train: all.slice(0, 6000), test: all.slice(6000) };
}

function buildVocab(rows) {
  const counts = new Map();
  for (const { text } of rows) for (const t of tokens(text)) counts.set(t, (counts.get(t) ?? 0) + 1);
  const words = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, VOCAB - 2);
  return new Map(words.map(([w], i) => [w, i + 2])); // 0 = padding, 1 = out of vocabulary
}

function encode(rows, vocab) {
  const ids = new Int32Array(rows.length * MAX_LEN);
  rows.forEach(({ text }, r) =>
    tokens(text)
      .slice(0, MAX_LEN)
      .forEach((t, i) => (ids[r * MAX_LEN + i] = vocab.get(t) ?? 1)),
  );
  return {
    x: tf.tensor2d(ids, [rows.length, MAX_LEN], 'int32'),
    y: tf.tensor2d(
      rows.map((r) => r.label),
      [rows.length, 1],
    ),
  };
}

function accuracy(model, { x, y }) {
  return tf.tidy(() => tf.mean(tf.equal(tf.greater(model.predict(x), 0.5), tf.cast(y, 'bool'))).dataSync()[0]);
}

const count = (weights) => weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);

const backend = await setupBackend();
const sstTrainRows = shuffled(readSst('train.tsv', Infinity), 7).slice(0, SST_TRAIN);
const vocab = buildVocab(sstTrainRows);
const sstTrain = encode(sstTrainRows, vocab);
const sstDev = encode(readSst('dev.tsv', Infinity), vocab);
const task = readSourceTask();
const taskTrain = encode(task.train, vocab);
const taskTest = encode(task.test, vocab);

// 1. The base classifier, trained on SST-2.
const glorot = (seed) => tfl.initializers.glorotUniform({ seed });
const base = tfl.sequential({
  layers: [
    tfl.layers.embedding({ inputDim: VOCAB, outputDim: 32, inputLength: MAX_LEN, maskZero: false, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 1 }) }),
    tfl.layers.globalAveragePooling1d(),
    tfl.layers.dense({ units: 64, activation: 'relu', name: 'hidden1', kernelInitializer: glorot(2) }),
    tfl.layers.dense({ units: 64, activation: 'relu', name: 'hidden2', kernelInitializer: glorot(3) }),
    tfl.layers.dense({ units: 1, activation: 'sigmoid', name: 'out', kernelInitializer: glorot(4) }),
  ],
});
base.compile({ optimizer: tf.train.adam(0.005), loss: 'binaryCrossentropy' });
let t0 = performance.now();
await base.fit(sstTrain.x, sstTrain.y, { epochs: 3, batchSize: 64, shuffle: false, verbose: 0 });
const baseSeconds = (performance.now() - t0) / 1000;

const before = { sst2: accuracy(base, sstDev), task: accuracy(base, taskTest) };

// 2. LoRA-Dash on the two hidden Dense layers; embedding and head stay frozen.
const { model, callback } = await applyAdapters(base, {
  method: 'lora-dash',
  targetLayers: ['hidden1', 'hidden2'],
  r: 4,
  alpha: 8,
  t: 50,
  s: 4,
  seed: 0,
});
model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
t0 = performance.now();
await model.fit(taskTrain.x, taskTrain.y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0, callbacks: [callback] });
const tuneSeconds = (performance.now() - t0) / 1000;
const after = { sst2: accuracy(model, sstDev), task: accuracy(model, taskTest) };
const merged = await mergeAndUnload(model);
const mergedTask = accuracy(merged, taskTest);

// For comparison: plain LoRA with the same rank, data and schedule.
const lora = await applyAdapters(base, { method: 'lora', targetLayers: ['hidden1', 'hidden2'], r: 4, alpha: 8, seed: 0 });
lora.model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
await lora.model.fit(taskTrain.x, taskTrain.y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 });
const loraTask = accuracy(lora.model, taskTest);

const pct = (v) => `${(100 * v).toFixed(1)}%`;
console.log(`backend ${backend}; SST-2: ${SST_TRAIN} train rows, ${sstDev.y.shape[0]} dev rows; source task: ${task.train.length} train, ${task.test.length} test sentences`);
console.log(`base model: ${base.countParams()} parameters, trained 3 epochs on SST-2 in ${baseSeconds.toFixed(1)} s`);
console.log(
  `LoRA-Dash: ${count(model.trainableWeights)} trainable of ${model.countParams()} parameters (${((100 * count(model.trainableWeights)) / model.countParams()).toFixed(2)}%), 3 epochs (${adapterLayers(model)[0].adapter.steps} steps) in ${tuneSeconds.toFixed(1)} s`,
);
console.log(`SST-2 dev accuracy:        before ${pct(before.sst2)}  after ${pct(after.sst2)}  (the original model is untouched: ${pct(accuracy(base, sstDev))})`);
console.log(
  `source-task test accuracy: before ${pct(before.task)}  after ${pct(after.task)}  merged ${pct(mergedTask)}  (plain LoRA, same r: ${pct(loraTask)}, ${count(lora.model.trainableWeights)} trainable)`,
);
for (const layer of adapterLayers(model)) {
  const { dashSelected, dashRates } = layer.adapter;
  console.log(`${layer.name}: TSDs ${dashSelected.join(', ')} (change rates ${dashSelected.map((i) => dashRates[i].toExponential(2)).join(', ')})`);
}
