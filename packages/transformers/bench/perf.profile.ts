/**
 * The in-process measurements of the perf bench (one thread, wasm), printed
 * as one JSON line:
 * - the peak wasm matmul FLOP/s on this machine, measured now (the MFU
 *   denominator), over the step's own GEMM shapes and a large square one,
 *   and our kernel against tfjs's stock one on the step's product kinds;
 * - per method, the step-time split (forward, backward, optimizer: medians
 *   of timed repeats; wasm kernels run synchronously, so wall time is compute
 *   time) and the kernel-time share per op type from `tf.profile`, with the
 *   step's peak tensor bytes.
 * Arguments: one JSON object { methods, repeats }; bundled by perf.mjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdamOptimizer, injectAdapters, setupBackend, setWasmGemmEnabled, type AdapterModel } from '@tsd-peft/tfjs';
import { Rng } from '@tsd-peft/core';
import { disposeWeights } from '../src/models/weights.js';
import { randomCausalLM } from '../src/parallel/random-model.js';
import { causalLmLoss, maskedCrossEntropy } from '../src/training/loss.js';
import { LR, perfBatch, perfJob, type PerfMethod } from './perf.model.js';

const { methods, repeats } = JSON.parse(process.argv[2] ?? '{}') as { methods: PerfMethod[]; repeats: number };
await setupBackend('wasm');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** GFLOP/s of tf.matMul for [g,m,k]·[g,k,n] (g = 1: 2-D), B transposed when asked (median of timed repeats). */
function matmulGflops(m: number, k: number, n: number, g = 1, transposeB = false): number {
  const shape = (r: number, c: number): number[] => (g === 1 ? [r, c] : [g, r, c]);
  const a: tf.Tensor = tf.randomNormal(shape(m, k));
  const b: tf.Tensor = tf.randomNormal(transposeB ? shape(n, k) : shape(k, n));
  const reps = Math.max(3, Math.round(3e9 / (2 * g * m * k * n)));
  tf.matMul(a, b, false, transposeB).dispose();
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) tf.matMul(a, b, false, transposeB).dispose();
    times.push((performance.now() - t0) / reps);
  }
  tf.dispose([a, b]);
  return (2 * g * m * k * n) / (median(times) / 1000) / 1e9;
}

const shapes: [number, number, number][] = [
  [1024, 256, 256],
  [1024, 256, 688],
  [1024, 688, 256],
  [1024, 256, 512],
  [1024, 1024, 1024],
];
const matmul = shapes.map(([m, k, n]) => ({ shape: `${m}x${k}x${n}`, gflops: matmulGflops(m, k, n) }));
/**
 * Our wasm matmul kernel (wasm-gemm.ts, what every run uses) against tfjs's
 * stock one, side by side on the step's product kinds: 2-D, batched attention
 * (32 heads × [128, 64]·[64, 128]), a transposed right operand, and a long
 * inner dimension (a large vocabulary's LM-head backward, dlogits·W).
 */
const kinds: { kind: string; run: () => number }[] = [
  { kind: '1024x256x688', run: () => matmulGflops(1024, 256, 688) },
  { kind: '32x128x64x128 batched', run: () => matmulGflops(128, 64, 128, 32) },
  { kind: '1024x256x256 Bᵀ', run: () => matmulGflops(1024, 256, 256, 1, true) },
  { kind: '1024x8192x256 (LM-head backward)', run: () => matmulGflops(1024, 8192, 256) },
];
const kernelComparison = kinds.map(({ kind, run }) => {
  const ours = run();
  setWasmGemmEnabled(false);
  const stock = run();
  setWasmGemmEnabled(true);
  return { kind, ours, stock };
});

/**
 * A LoRA step (r = 8 on q/k/v/o, Adam) on real-model shapes, ours against the
 * stock kernel: 2 of SmolLM-135M's 30 layers (hidden 576, SwiGLU 1536, 9 query
 * and 3 kv heads) with its tied 49,152-token head, batch 2 × 128, random weights.
 */
function realShapeStep(): { label: string; oursMs: number; stockMs: number } {
  const config = {
    model_type: 'llama',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 2,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
  };
  const { replica, weights } = randomCausalLM(config, 1);
  const model = injectAdapters(weights, { method: 'lora', r: 8, alpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
  const ids = tf.tensor2d(
    Int32Array.from({ length: 2 * 128 }, (_, i) => (i * 7919) % 49152),
    [2, 128],
    'int32',
  );
  const optimizer = new AdamOptimizer({ type: 'adam' });
  const step = () => {
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(() => causalLmLoss(replica.forward({ inputIds: ids }, weights, model), ids), [...vars.values()]);
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of vars) if (grads[v.name] !== undefined) byName.set(name, grads[v.name] as tf.Tensor);
    value.dataSync();
    value.dispose();
    optimizer.applyGradients(vars, byName, LR);
    tf.dispose([...byName.values()]);
  };
  const timeSteps = (ours: boolean) => {
    setWasmGemmEnabled(ours);
    step();
    const times = [0, 1, 2].map(() => {
      const t0 = performance.now();
      step();
      return performance.now() - t0;
    });
    setWasmGemmEnabled(true);
    return median(times);
  };
  const oursMs = timeSteps(true);
  const stockMs = timeSteps(false);
  optimizer.dispose();
  model.dispose();
  replica.dispose();
  disposeWeights(weights);
  ids.dispose();
  return { label: '2 SmolLM-135M layers + tied 49,152 head, LoRA, batch 2×128', oursMs, stockMs };
}
const realShape = realShapeStep();

interface Split {
  method: PerfMethod;
  forwardMs: number;
  backwardMs: number;
  optimizerMs: number;
  stepMs: number;
  kernels: { name: string; ms: number; count: number }[];
  peakTensorBytes: number;
  trainableParams: number;
}

const splits: Split[] = [];
for (const method of methods) {
  const job = perfJob({ rank: 0, worldSize: 1, workerData: { method, steps: 0 } });
  const model = job.model as AdapterModel;
  const optimizer = new AdamOptimizer({ type: 'adam' });
  const rng = Rng.fromSeed(0);
  const ctx = { step: 0, microBatch: 0, rng };
  let step = 0;
  const grads = () => {
    const vars = model.trainableVariables();
    const { value, grads: g } = tf.variableGrads(() => job.lossFn(perfBatch(step), ctx), [...vars.values()]);
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of vars) {
      const t = g[v.name];
      if (t !== undefined) byName.set(name, t);
    }
    value.dataSync();
    value.dispose();
    return { vars, byName };
  };
  const fullStep = () => {
    const { vars, byName } = grads();
    optimizer.applyGradients(vars, byName, LR);
    tf.dispose([...byName.values()]);
    model.afterOptimizerStep(++step); // LoRA-Dash launches after step 1
  };
  fullStep();
  fullStep();
  const forward: number[] = [];
  const backward: number[] = [];
  const update: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    tf.tidy(() => job.lossFn(perfBatch(step), ctx).dataSync());
    const t1 = performance.now();
    const { vars, byName } = grads();
    const t2 = performance.now();
    optimizer.applyGradients(vars, byName, LR);
    (vars.values().next().value as tf.Variable).dataSync();
    const t3 = performance.now();
    tf.dispose([...byName.values()]);
    model.afterOptimizerStep(++step);
    forward.push(t1 - t0);
    backward.push(t2 - t1 - (t1 - t0)); // the gradient pass re-runs the forward
    update.push(t3 - t2);
  }
  const profile = await tf.profile(() => fullStep());
  const byKernel = new Map<string, { ms: number; count: number }>();
  for (const k of profile.kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, count: 0 };
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    entry.count += 1;
    byKernel.set(k.name, entry);
  }
  const kernels = [...byKernel].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
  let trainableParams = 0;
  for (const v of model.trainableVariables().values()) trainableParams += v.size;
  const [f, b, o] = [median(forward), median(backward), median(update)];
  splits.push({ method, forwardMs: f, backwardMs: b, optimizerMs: o, stepMs: f + b + o, kernels, peakTensorBytes: profile.peakBytes, trainableParams });
  optimizer.dispose();
  job.dispose?.();
}
/**
 * Cross-entropy forward + backward on [1024, V] logits: the loss as shipped
 * (fused softmax, scattered target term) against the previous formulation
 * (logsumexp, exp(z − lse) − oneHot), which is kept here only as the baseline.
 */
function oneHotCrossEntropy(z: tf.Tensor2D, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [rows, vocab] = z.shape;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), targets);
    const count = tf.maximum(tf.sum(weights), 1);
    const lse = tf.logSumExp(x, 1);
    const value = tf.div(tf.sum(tf.mul(tf.sub(lse, tf.gather(tf.reshape(x, [rows * vocab]), flatIndex)), weights)), count) as tf.Scalar;
    save([x, lse, count]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, l, n] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Scalar];
        const softmax = tf.exp(tf.sub(zs, tf.reshape(l, [rows, 1])));
        return tf.mul(tf.sub(softmax, tf.oneHot(targets, vocab)), tf.reshape(tf.div(tf.mul(weights, dy), n), [rows, 1]));
      },
    };
  });
  return f(z) as tf.Scalar;
}

const crossEntropy = [512, 32000].map((vocab) => {
  const rows = 1024;
  const z = tf.randomNormal([rows, vocab], 0, 2, 'float32', 5) as tf.Tensor2D;
  const targets = tf.tensor1d(
    Int32Array.from({ length: rows }, (_, i) => (i * 7919) % vocab),
    'int32',
  );
  const weights = tf.ones([rows]) as tf.Tensor1D;
  const time = (loss: typeof maskedCrossEntropy) => {
    const once = () => tf.dispose(tf.grad((x: tf.Tensor) => loss(x as tf.Tensor2D, targets, weights))(z));
    once();
    const ts: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      once();
      ts.push(performance.now() - t0);
    }
    return median(ts);
  };
  const result = { vocab, shippedMs: time(maskedCrossEntropy), oneHotMs: time(oneHotCrossEntropy) };
  tf.dispose([z, targets, weights]);
  return result;
});

console.log(JSON.stringify({ matmul, kernelComparison, realShape, splits, crossEntropy }));
