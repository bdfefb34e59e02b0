import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng } from '@tsd-peft/core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeightMap, type StoredTensor } from '../loaders/weight-map.js';
import { FrozenLinear } from './frozen-linear.js';
import { parseGpt2Config } from './gpt2-config.js';
import { Gpt2Replica } from './gpt2.js';
import { architectureFor } from './registry.js';
import { useWasmBackend } from './test-backend.test-helper.js';
import type { WeightMap } from './types.js';

/**
 * An independent float64 GPT-2 forward written from HF `modeling_gpt2.py`:
 * Conv1D `y = x·W + b` with W stored [in, out] (so the test also checks the
 * loader's transpose), LayerNorm, fused c_attn split q|k|v, gelu_new, tied head.
 */
function gpt2Reference(
  c: { vocab: number; d: number; heads: number; layers: number; inner: number; eps: number },
  w: (name: string) => Float64Array,
  ids: number[][],
  mask: number[][],
): Float64Array[][] {
  const conv1d = (x: Float64Array[], name: string, inDim: number, outDim: number): Float64Array[] => {
    const W = w(`${name}.weight`); // [in, out], as the checkpoint stores it
    const b = w(`${name}.bias`);
    return x.map((row) => {
      const y = Float64Array.from(b);
      for (let i = 0; i < inDim; i++) for (let o = 0; o < outDim; o++) y[o]! += row[i]! * W[i * outDim + o]!;
      return y;
    });
  };
  const ln = (x: Float64Array[], name: string): Float64Array[] =>
    x.map((row) => {
      const mu = row.reduce((a, v) => a + v, 0) / row.length;
      const variance = row.reduce((a, v) => a + (v - mu) ** 2, 0) / row.length;
      const g = w(`${name}.weight`);
      const bb = w(`${name}.bias`);
      return row.map((v, i) => ((v - mu) / Math.sqrt(variance + c.eps)) * g[i]! + bb[i]!);
    });
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const hd = c.d / c.heads;
  return ids.map((row, b) => {
    const wte = w('wte.weight');
    const wpe = w('wpe.weight');
    let h = row.map((id, t) => Float64Array.from({ length: c.d }, (_, i) => wte[id * c.d + i]! + wpe[t * c.d + i]!));
    for (let l = 0; l < c.layers; l++) {
      const p = `h.${l}`;
      const qkv = conv1d(ln(h, `${p}.ln_1`), `${p}.attn.c_attn`, c.d, 3 * c.d);
      const ctx = row.map(() => new Float64Array(c.d));
      for (let head = 0; head < c.heads; head++) {
        for (let t = 0; t < row.length; t++) {
          const keys = [...Array(t + 1).keys()].filter((s) => mask[b]![s] === 1);
          if (keys.length === 0) continue;
          const scores = keys.map((s) => {
            let dot = 0;
            for (let i = 0; i < hd; i++) dot += qkv[t]![head * hd + i]! * qkv[s]![c.d + head * hd + i]!;
            return dot / Math.sqrt(hd);
          });
          const m = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - m));
          const z = e.reduce((a, v) => a + v, 0);
          keys.forEach((s, j) => {
            for (let i = 0; i < hd; i++) ctx[t]![head * hd + i]! += (e[j]! / z) * qkv[s]![2 * c.d + head * hd + i]!;
          });
        }
      }
      const attnOut = conv1d(ctx, `${p}.attn.c_proj`, c.d, c.d);
      h = h.map((r, t) => r.map((v, i) => v + attnOut[t]![i]!));
      const inner = conv1d(ln(h, `${p}.ln_2`), `${p}.mlp.c_fc`, c.d, c.inner).map((r) => r.map(gelu));
      const mlpOut = conv1d(inner, `${p}.mlp.c_proj`, c.inner, c.d);
      h = h.map((r, t) => r.map((v, i) => v + mlpOut[t]![i]!));
    }
    const hn = ln(h, 'ln_f');
    const wteT = w('wte.weight');
    return hn.map((r) => Float64Array.from({ length: c.vocab }, (_, v) => r.reduce((a, x, i) => a + x * wteT[v * c.d + i]!, 0)));
  });
}

describe('GPT-2 replica vs an independent float64 forward (random weights)', () => {
  const raw = { model_type: 'gpt2', vocab_size: 41, n_positions: 16, n_embd: 24, n_layer: 2, n_head: 3, layer_norm_epsilon: 1e-5, activation_function: 'gelu_new' };
  const cfg = { vocab: 41, d: 24, heads: 3, layers: 2, inner: 96, eps: 1e-5 };
  const replica = new Gpt2Replica(parseGpt2Config(raw, 'gpt2-config.json'));
  const spec = architectureFor('gpt2', 'gpt2-config.json');
  // Checkpoint-layout tensors, named as the original gpt2 files (no "transformer." prefix, Conv1D [in, out], attn.bias buffers).
  const checkpoint = new Map<string, { shape: number[]; data: Float32Array }>();
  let weights: WeightMap;

  beforeAll(async () => {
    await useWasmBackend();
    const rng = Rng.fromSeed(3);
    const put = (name: string, shape: number[], scale: number, offset = 0): void => {
      const n = shape.reduce((a, b) => a * b, 1);
      checkpoint.set(name, { shape, data: Float32Array.from({ length: n }, () => offset + scale * rng.normal()) });
    };
    put('wte.weight', [41, 24], 0.5);
    put('wpe.weight', [16, 24], 0.2);
    for (let l = 0; l < 2; l++) {
      for (const n of ['ln_1', 'ln_2']) {
        put(`h.${l}.${n}.weight`, [24], 0.1, 1);
        put(`h.${l}.${n}.bias`, [24], 0.1);
      }
      put(`h.${l}.attn.c_attn.weight`, [24, 72], 0.3);
      put(`h.${l}.attn.c_attn.bias`, [72], 0.1);
      put(`h.${l}.attn.c_proj.weight`, [24, 24], 0.2);
      put(`h.${l}.attn.c_proj.bias`, [24], 0.1);
      put(`h.${l}.mlp.c_fc.weight`, [24, 96], 0.2);
      put(`h.${l}.mlp.c_fc.bias`, [96], 0.1);
      put(`h.${l}.mlp.c_proj.weight`, [96, 24], 0.1);
      put(`h.${l}.mlp.c_proj.bias`, [24], 0.1);
      put(`h.${l}.attn.bias`, [1, 1, 16, 16], 0); // legacy causal-mask buffer: must be ignored
    }
    put('ln_f.weight', [24], 0.1, 1);
    put('ln_f.bias', [24], 0.1);
    const stored = new Map<string, StoredTensor>([...checkpoint].map(([k, t]) => [k, { shape: t.shape, read: () => t.data }]));
    const built = buildWeightMap(stored, replica, spec, 'gpt2-random.safetensors');
    weights = built.weights;
    expect(built.unused).toEqual(['h.0.attn.bias', 'h.1.attn.bias']);
  });
  afterAll(() => {
    tf.dispose([...new Set(weights.values())] as tf.Tensor[]);
    replica.dispose();
  });

  const ids = [
    [5, 40, 0, 13, 13, 7, 22, 1],
    [9, 3, 31, 2, 0, 0, 0, 0],
  ];
  const mask = [
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0, 0, 0, 0],
  ];
  const f64 = (name: string): Float64Array => Float64Array.from(checkpoint.get(name)!.data);

  it('transposes Conv1D weights to [out, in], prefixes names and ties lm_head to wte', () => {
    expect((weights.get('transformer.h.0.attn.c_attn.weight') as tf.Tensor).shape).toEqual([72, 24]);
    expect((weights.get('transformer.h.1.mlp.c_proj.weight') as tf.Tensor).shape).toEqual([24, 96]);
    expect(weights.get('lm_head.weight')).toBe(weights.get('transformer.wte.weight'));
    const stored = checkpoint.get('h.0.mlp.c_fc.weight')!.data;
    const loaded = (weights.get('transformer.h.0.mlp.c_fc.weight') as tf.Tensor).dataSync();
    // loaded[o, i] = stored[i, o]
    expect(loaded[5 * 24 + 3]).toBe(stored[3 * 96 + 5]);
  });

  // Logits here are O(1–10); fp32 errors ~1e-6. 2e-5 fails any convention slip
  // (missing transpose, wrong q|k|v split, exact vs tanh GELU: ≥ 1e-4).
  it('matches float64 logits on a right-padded batch (real positions)', () => {
    const logits = replica.forward({ inputIds: ids, attentionMask: mask }, weights, new FrozenLinear(weights));
    const got = logits.dataSync();
    const want = gpt2Reference(cfg, f64, ids, mask);
    let worst = 0;
    want.forEach((row, b) =>
      row.forEach((v, t) => {
        if (mask[b]![t] === 0) return;
        v.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - got[(b * 8 + t) * 41 + k]!))));
      }),
    );
    expect(worst).toBeLessThan(2e-5);
    logits.dispose();
  });

  it('is differentiable on wasm through c_attn (gradient vs float64 finite differences)', () => {
    const target = 'transformer.h.0.attn.c_attn';
    const delta = tf.variable(tf.zeros([72, 24]));
    const frozen = new FrozenLinear(weights);
    const linear: LinearProvider = {
      linear: (name, x) => (name === target ? tf.add(frozen.linear(name, x), tf.matMul(x, delta, false, true)) : frozen.linear(name, x)),
    };
    const rng = Rng.fromSeed(5);
    const r = Float32Array.from({ length: 8 * 41 }, () => rng.normal());
    const rT = tf.tensor3d(r, [1, 8, 41]);
    const row = [ids[0]!];
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(replica.forward({ inputIds: row }, weights, linear), rT)) as tf.Scalar);
    const g = grads[delta.name]!.dataSync();
    const loss = (o: number, i: number, h: number): number => {
      const w = (name: string): Float64Array => {
        const base = f64(name);
        if (name === 'h.0.attn.c_attn.weight') base[i * 72 + o] = base[i * 72 + o]! + h; // stored [in, out]
        return base;
      };
      const logits = gpt2Reference(cfg, w, row, [mask[0]!]);
      let s = 0;
      logits[0]!.forEach((v, t) => v.forEach((x, k) => (s += x * r[t * 41 + k]!)));
      return s;
    };
    for (const [o, i] of [
      [0, 0],
      [30, 5],
      [60, 23],
    ] as const) {
      const fd = (loss(o, i, 1e-5) - loss(o, i, -1e-5)) / 2e-5;
      // fp32 backprop: relative error ~1e-5; 1e-3 still catches a wrong gradient.
      expect(Math.abs(g[o * 24 + i]! - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
    }
    tf.dispose([delta, rT, ...Object.values(grads)]);
    frozen.dispose();
  });

  it('refuses positions beyond n_positions and unsupported activations', () => {
    expect(() => replica.forward({ inputIds: [Array(17).fill(1)] }, weights, new FrozenLinear(weights))).toThrow(/n_positions/);
    expect(() => parseGpt2Config({ ...raw, activation_function: 'gelu' }, 'cfg.json')).toThrow(ConfigError);
  });
});
