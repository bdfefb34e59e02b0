// Training-step bench for the adapters on the active TF.js backend (wasm in Node).
//
// A synthetic stack of linear layers with the shapes of a dim-256, 4-layer
// Llama (q, k, v, o 256×256; gate, up 688×256; down 256×688 per layer), a
// batch of 8×128 = 1024 rows, every linear adapted (28 modules, r = 8, s = 8).
// Prints: step time for LoRA and for LoRA-Dash after launch and their ratio
// (target ≤ 1.03), the launch cost (SVD + selection per module), the
// speed-up of the BatchMatMul gradient fix over tfjs's stock gradient, and
// the Adam update of LoRA-Dash's trainable set grouped by shape against one
// variable at a time (kernels and time).
//
// Run: npm run bench -w @tsd-peft/tfjs (builds first; imports ../dist).
import * as tf from '@tensorflow/tfjs-core';
import { SvdCache } from '@tsd-peft/core';
import { AdamOptimizer, injectAdapters, installGradientFixes, setupBackend, setWasmGemmEnabled } from '../dist/index.js';
import { DIM, DIRECTIONS, LAYERS, RANK, ROWS, makeWeights, median, seeded, step, timedStep } from './step-model.mjs';

const WARMUP = 2;
const TIMED = Number(process.env.BENCH_STEPS ?? 6);

/** Median step time (ms) after `skip` untimed steps. */
function timeSteps(model, x, skip) {
  for (let i = 0; i < skip; i++) step(model, x, 1000 + i);
  return median(Array.from({ length: TIMED }, (_, i) => timedStep(model, x, 2000 + i)));
}

const backend = await setupBackend();
const weights = makeWeights();
const x = tf.randomNormal([ROWS, DIM], 0, 1, 'float32', 7);
const targets = 'all-linear';
console.log(`backend ${backend}; ${LAYERS} layers, ${ROWS} rows, r=${RANK}, s=${DIRECTIONS}; median of ${TIMED} steps, CPU time`);

// LoRA-Dash: t = 1, so the launch happens after the first step; it is timed on its own.
const svdCache = new SvdCache();
const dash = injectAdapters(weights, { method: 'lora-dash', r: RANK, alpha: 16, s: DIRECTIONS, t: 1, targetModules: targets, svdCache });
step(dash, x, 0); // one pre-launch step (afterOptimizerStep(0): no launch yet), so B·A ≠ 0
const cpuMs = (t0) => {
  const dt = process.cpuUsage(t0);
  return (dt.user + dt.system) / 1000;
};
const launchStart = process.cpuUsage();
dash.afterOptimizerStep(1);
const launchMs = cpuMs(launchStart);
const modules = dash.targetModules.length;
if (dash.tsdSelections().size !== modules) throw new Error('LoRA-Dash did not launch');
const relaunch = injectAdapters(weights, { method: 'lora-dash', r: RANK, alpha: 16, s: DIRECTIONS, t: 1, targetModules: targets, svdCache });
const cachedStart = process.cpuUsage();
relaunch.afterOptimizerStep(1); // SVDs now cached: selection only
const selectionMs = cpuMs(cachedStart);
relaunch.dispose();

const lora = injectAdapters(weights, { method: 'lora', r: RANK, alpha: 16, targetModules: targets });
for (let i = 0; i < WARMUP; i++) {
  step(lora, x, 100 + i);
  step(dash, x, 100 + i);
}
// Paired, alternating measurements (order swapped every round) so that load
// from other processes on this machine hits both methods alike.
const loraMs = [];
const dashMs = [];
const ratios = [];
for (let round = 0; round < TIMED; round++) {
  let l;
  let d;
  if (round % 2 === 0) {
    l = timedStep(lora, x, 200 + round);
    d = timedStep(dash, x, 200 + round);
  } else {
    d = timedStep(dash, x, 200 + round);
    l = timedStep(lora, x, 200 + round);
  }
  loraMs.push(l);
  dashMs.push(d);
  ratios.push(d / l);
}
const loraStep = median(loraMs);
const dashStep = median(dashMs);
const ratio = median(ratios);
console.log(`LoRA step            ${loraStep.toFixed(1)} ms`);
console.log(`LoRA-Dash step       ${dashStep.toFixed(1)} ms (after launch)`);
console.log(`ratio Dash/LoRA      ${ratio.toFixed(3)} (median of ${TIMED} paired steps; target ≤ 1.03)`);
console.log(`launch (SVD + select) ${(launchMs / modules).toFixed(1)} ms per module, ${launchMs.toFixed(0)} ms for ${modules} modules`);
console.log(`  of which selection  ${(selectionMs / modules).toFixed(2)} ms per module (SVD cached)`);

// What plain tfjs code gets: LoRA written with flag-free matMuls
// (x·Wᵀ + scaling·(x·Aᵀ)·Bᵀ with Wᵀ pre-transposed and Aᵀ, Bᵀ explicit),
// trained with tfjs's stock BatchMatMul gradient (whose backward uses the
// slow transpose flags), then with our gradient fix; and the adapter
// model's fused op for comparison.
function naiveLora() {
  const vars = new Map();
  const rand = seeded(3);
  const wT = new Map();
  for (const [name, w] of weights) {
    const module = name.slice(0, -'.weight'.length);
    wT.set(module, tf.transpose(w));
    const inDim = w.shape[1];
    vars.set(
      `${module}.A`,
      tf.variable(
        tf.tensor2d(
          Float32Array.from({ length: RANK * inDim }, () => rand() / Math.sqrt(inDim)),
          [RANK, inDim],
        ),
      ),
    );
    vars.set(`${module}.B`, tf.variable(tf.zeros([w.shape[0], RANK])));
  }
  return {
    linear: (name, x) => {
      const lora = tf.matMul(tf.matMul(x, tf.transpose(vars.get(`${name}.A`))), tf.transpose(vars.get(`${name}.B`)));
      return tf.add(tf.matMul(x, wT.get(name)), tf.mul(lora, 2));
    },
    trainableVariables: () => vars,
    afterOptimizerStep: () => {},
    dispose: () => tf.dispose([...vars.values(), ...wT.values()]),
  };
}
const naive = naiveLora();
const { batchMatMulGradConfig: stock } = await import('@tensorflow/tfjs-core/dist/gradients/BatchMatMul_grad.js');
// tfjs as shipped: stock wasm matmul kernel and stock gradient
setWasmGemmEnabled(false);
tf.registerGradient(stock);
const stockStep = timeSteps(naive, x, 1);
installGradientFixes();
const fixedStep = timeSteps(naive, x, 1);
setWasmGemmEnabled(true);
const kernelStep = timeSteps(naive, x, 1);
const fusedStep = timeSteps(lora, x, 1);
console.log(
  `plain-tfjs LoRA step: stock kernel + stock gradient ${stockStep.toFixed(1)} ms; + our BatchMatMul gradient ${fixedStep.toFixed(1)} ms ` +
    `(${(stockStep / fixedStep).toFixed(2)}×); + our wasm matmul kernel ${kernelStep.toFixed(1)} ms (${(stockStep / kernelStep).toFixed(2)}×); ` +
    `adapter model (fused op) ${fusedStep.toFixed(1)} ms (${(stockStep / fusedStep).toFixed(2)}× vs stock)`,
);
// Adam over LoRA-Dash's trainable set after launch (A, B and d of 28 modules):
// one optimizer, which stacks same-shaped variables, against one optimizer
// per variable (each then updates a group of one: the per-variable path).
const dashVars = dash.trainableVariables();
const adamGrads = new Map([...dashVars].map(([name, v]) => [name, tf.randomNormal(v.shape, 0, 1e-2, 'float32', 11)]));
const grouped = new AdamOptimizer({ type: 'adamw' });
const perVariable = new Map([...dashVars.keys()].map((name) => [name, new AdamOptimizer({ type: 'adamw' })]));
const updateGrouped = () => grouped.applyGradients(dashVars, adamGrads, 1e-5);
const updatePerVariable = () => {
  for (const [name, opt] of perVariable) opt.applyGradients(dashVars, new Map([[name, adamGrads.get(name)]]), 1e-5);
};
const kernelsOf = async (update) => (await tf.profile(update)).kernels.length;
const timeUpdate = (update) => {
  for (let i = 0; i < WARMUP; i++) update();
  return median(
    Array.from({ length: 3 * TIMED }, () => {
      const t0 = process.cpuUsage();
      update();
      return cpuMs(t0);
    }),
  );
};
const groupedMs = timeUpdate(updateGrouped);
const perVariableMs = timeUpdate(updatePerVariable);
const [groupedKernels, perVariableKernels] = [await kernelsOf(updateGrouped), await kernelsOf(updatePerVariable)];
console.log(
  `Adam update of ${dashVars.size} variables: grouped by shape ${groupedKernels} kernels, ${groupedMs.toFixed(2)} ms; ` +
    `one variable at a time ${perVariableKernels} kernels, ${perVariableMs.toFixed(2)} ms (${(perVariableMs / groupedMs).toFixed(2)}× the time, ` +
    `${(perVariableKernels / groupedKernels).toFixed(1)}× the kernels)`,
);
grouped.dispose();
for (const opt of perVariable.values()) opt.dispose();
tf.dispose([...adamGrads.values()]);
naive.dispose();
lora.dispose();
dash.dispose();
tf.dispose([...weights.values(), x]);
