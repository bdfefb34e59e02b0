// The synthetic training step shared by the tfjs benches (step.bench.mjs,
// fma.bench.mjs): a stack of linear layers with the shapes of a dim-256,
// 4-layer Llama (q, k, v, o 256×256; gate, up 688×256; down 256×688 per
// layer) and a batch of 8×128 = 1024 rows (tokens).
import * as tf from '@tensorflow/tfjs-core';

export const LAYERS = 4;
export const DIM = 256;
export const HIDDEN = 688;
export const ROWS = 8 * 128;
export const RANK = 8;
export const DIRECTIONS = 8;

export function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

export function makeWeights() {
  const rand = seeded(1);
  const mat = (rows, cols) =>
    tf.tensor2d(
      Float32Array.from({ length: rows * cols }, () => (2 * rand()) / Math.sqrt(cols)),
      [rows, cols],
    );
  const weights = new Map();
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) weights.set(`${p}.self_attn.${m}.weight`, mat(DIM, DIM));
    weights.set(`${p}.mlp.gate_proj.weight`, mat(HIDDEN, DIM));
    weights.set(`${p}.mlp.up_proj.weight`, mat(HIDDEN, DIM));
    weights.set(`${p}.mlp.down_proj.weight`, mat(DIM, HIDDEN));
  }
  return weights;
}

/** A Llama-shaped stack of projections (no attention softmax: this benches the linears). */
export function loss(model, x) {
  return tf.tidy(() => {
    let h = x;
    for (let l = 0; l < LAYERS; l++) {
      const p = `model.layers.${l}`;
      const q = model.linear(`${p}.self_attn.q_proj`, h);
      const k = model.linear(`${p}.self_attn.k_proj`, h);
      const v = model.linear(`${p}.self_attn.v_proj`, h);
      const a = tf.add(tf.mul(tf.tanh(q), k), v);
      h = tf.add(h, model.linear(`${p}.self_attn.o_proj`, a));
      const g = model.linear(`${p}.mlp.gate_proj`, h);
      const u = model.linear(`${p}.mlp.up_proj`, h);
      h = tf.add(h, model.linear(`${p}.mlp.down_proj`, tf.mul(tf.mul(g, tf.sigmoid(g)), u)));
    }
    return tf.mean(tf.square(h));
  });
}

/** One SGD step over the model's current trainable set; the update cost is the same for every method. */
export function step(model, x, completed) {
  const vars = [...model.trainableVariables().values()];
  const { value, grads } = tf.variableGrads(() => loss(model, x), vars);
  tf.tidy(() => {
    for (const v of vars) {
      const g = grads[v.name];
      if (g !== undefined) v.assign(tf.sub(v, tf.mul(g, 1e-3)));
    }
  });
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  model.afterOptimizerStep(completed);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * CPU time (ms) of one step. wasm runs single-threaded, so process CPU time
 * is its compute time, and unlike wall time it does not count the time other
 * processes on a shared machine take from us.
 */
export function timedStep(model, x, completed) {
  const t0 = process.cpuUsage();
  step(model, x, completed);
  const dt = process.cpuUsage(t0);
  return (dt.user + dt.system) / 1000;
}
