import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, parseSafetensors, Rng, ShapeError, tensorToFloat32 } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import type { LinearProvider } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { FrozenLinear } from './frozen-linear.js';
import { parseLlamaConfig } from './llama-config.js';
import { llamaReferenceLogits, type RefLlamaConfig } from './llama-reference.test-helper.js';
import { LlamaReplica } from './llama.js';
import { useWasmBackend } from './test-backend.test-helper.js';
import type { WeightMap } from './types.js';

interface Inputs {
  input1: { ids: number[] };
  input2: { ids: number[] };
  input3: { ids: number[][]; attention_mask: number[][] };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('Llama replica on hf/stories260K', () => {
  let model: CausalLM;
  let inputs: Inputs;
  let reference: Map<string, Float32Array>;

  beforeAll(async () => {
    await useWasmBackend();
    model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'));
    inputs = JSON.parse(readFileSync(fixturePath('reference', 'inputs.json'), 'utf8')) as Inputs;
    const file = parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', 'logits.safetensors'))));
    reference = new Map([...file.tensors].map(([k, t]) => [k, tensorToFloat32(t, k)]));
  });
  afterAll(() => model.dispose());

  // 1e-4: HF's own fp32 logits differ from a float64 oracle by ≤ 1.43e-5 on
  // logits spanning ±18 (reference/README.md); a correct fp32 replica lands in
  // that band, while any convention slip (RoPE pairing, GQA mapping, eps) moves
  // logits by ≥ 1e-2.
  const TOL = 1e-4;

  it.each(['input1', 'input2'] as const)('reproduces HF logits for %s within 1e-4', (key) => {
    const logits = model.forward({ inputIds: [inputs[key].ids] });
    expect(logits.shape).toEqual([1, inputs[key].ids.length, 512]);
    expect(maxAbsDiff(logits.dataSync(), reference.get(key) as Float32Array)).toBeLessThan(TOL);
    logits.dispose();
  });

  it('reproduces HF logits for the right-padded batch input3 at real positions', () => {
    const { ids, attention_mask: mask } = inputs.input3;
    const logits = model.forward({ inputIds: ids, attentionMask: mask });
    const got = logits.dataSync();
    const want = reference.get('input3') as Float32Array;
    const [, T, V] = logits.shape;
    let worst = 0;
    let compared = 0;
    mask.forEach((row, b) =>
      row.forEach((m, t) => {
        if (m === 0) return;
        compared++;
        const at = (b * T + t) * V;
        worst = Math.max(worst, maxAbsDiff(got.subarray(at, at + V), want.subarray(at, at + V)));
      }),
    );
    expect(compared).toBe(16 + 11);
    expect(worst).toBeLessThan(TOL);
    logits.dispose();
  });

  it('gives the same logits with explicit position ids 0..T−1 as without', () => {
    const ids = [inputs.input1.ids];
    const a = model.forward({ inputIds: ids });
    const b = model.forward({ inputIds: ids, positionIds: [ids[0]!.map((_, t) => t)] });
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
  });

  it('keeps numTensors flat across forwards (caches warm, tidy discipline)', () => {
    const { ids, attention_mask: mask } = inputs.input3;
    const run = (): void => {
      tf.dispose([model.forward({ inputIds: ids, attentionMask: mask }), model.forward({ inputIds: [inputs.input2.ids] })]);
    };
    run(); // warms the per-length mask / RoPE caches
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects out-of-vocabulary ids and mismatched masks with ShapeError', () => {
    expect(() => model.forward({ inputIds: [[1, 512]] })).toThrow(ShapeError);
    expect(() => model.forward({ inputIds: [[1, 2, 3]], attentionMask: [[1, 1]] })).toThrow(/attention_mask/);
  });
});

describe('Llama replica vs an independent float64 forward (random Qwen2-style config)', () => {
  // GQA 4:2, head_dim 6 (≠ hidden/heads), q/k/v biases, untied head, θ = 500
  const raw = {
    model_type: 'qwen2',
    vocab_size: 37,
    hidden_size: 20,
    intermediate_size: 28,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 6,
    rms_norm_eps: 1e-6,
    rope_theta: 500,
    tie_word_embeddings: false,
  };
  const config = parseLlamaConfig(raw, 'test-config.json');
  const ref: RefLlamaConfig = { vocab: 37, hidden: 20, inter: 28, layers: 2, heads: 4, kvHeads: 2, headDim: 6, eps: 1e-6, theta: 500, qkvBias: true, tied: false };
  const replica = new LlamaReplica(config);
  const f64 = new Map<string, Float64Array>();
  let weights: WeightMap;

  beforeAll(async () => {
    await useWasmBackend();
    const rng = Rng.fromSeed(7);
    weights = new Map();
    for (const [name, shape] of replica.expectedWeights()) {
      const n = shape.reduce((a, b) => a * b, 1);
      const isNorm = name.endsWith('norm.weight');
      const data = Float32Array.from({ length: n }, () => (isNorm ? 1 + 0.1 * rng.normal() : 0.3 * rng.normal()));
      f64.set(name, Float64Array.from(data));
      weights.set(name, tf.tensor(data, shape));
    }
  });
  afterAll(() => {
    tf.dispose([...weights.values()] as tf.Tensor[]);
    replica.dispose();
  });

  const ids = [
    [3, 17, 36, 0, 9, 22, 5],
    [30, 2, 11, 11, 4, 0, 0],
  ];
  const mask = [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 0, 0],
  ];
  const positions = [
    [0, 1, 2, 3, 4, 5, 6],
    [5, 6, 7, 8, 9, 0, 0],
  ];

  function compare(got: Float32Array, want: Float64Array[][]): number {
    let worst = 0;
    want.forEach((row, b) =>
      row.forEach((v, t) => {
        if (mask[b]![t] === 0) return;
        const at = (b * 7 + t) * 37;
        worst = Math.max(worst, maxAbsDiff(got.subarray(at, at + 37), v));
      }),
    );
    return worst;
  }

  // Logits here are O(1–10); fp32 accumulation over these widths (≤ 28) gives
  // errors ~1e-6, so 2e-5 passes a correct replica and fails any wrong
  // convention (which moves logits by ≥ 1e-2).
  it('matches float64 logits with padding and explicit position ids', () => {
    const linear = new FrozenLinear(weights);
    const logits = replica.forward({ inputIds: ids, attentionMask: mask, positionIds: positions }, weights, linear);
    const want = llamaReferenceLogits(ref, (n) => f64.get(n) as Float64Array, ids, mask, positions);
    expect(compare(logits.dataSync() as Float32Array, want)).toBeLessThan(2e-5);
    logits.dispose();
  });

  it('matches with a sliding window (Mistral-style) mask', () => {
    const windowed = new LlamaReplica({ ...config, slidingWindow: 3 });
    const logits = windowed.forward({ inputIds: ids, attentionMask: mask }, weights, new FrozenLinear(weights, { pretranspose: false }));
    const want = llamaReferenceLogits({ ...ref, slidingWindow: 3 }, (n) => f64.get(n) as Float64Array, ids, mask);
    expect(compare(logits.dataSync() as Float32Array, want)).toBeLessThan(2e-5);
    logits.dispose();
    windowed.dispose();
  });

  it('is differentiable on wasm: gradients through RoPE, GQA and the mask match float64 finite differences', () => {
    // A LinearProvider that adds x·Dᵀ on q_proj and k_proj of layer 0, as an adapter would.
    const targets = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj'];
    const deltas = new Map(targets.map((t) => [t, tf.variable(tf.zeros((weights.get(`${t}.weight`) as tf.Tensor).shape as [number, number]))]));
    const frozen = new FrozenLinear(weights);
    const withDelta: LinearProvider = {
      linear: (name, x) => {
        const d = deltas.get(name);
        return d === undefined ? frozen.linear(name, x) : tf.add(frozen.linear(name, x), tf.matMul(x, d, false, true));
      },
    };
    const rng = Rng.fromSeed(11);
    const r = Float64Array.from({ length: 2 * 7 * 37 }, () => rng.normal());
    // loss = Σ r ⊙ logits over real positions (padded rows masked out)
    const weightsOfLoss = Float32Array.from(r, (v, i) => (mask[Math.floor(i / (7 * 37))]![Math.floor(i / 37) % 7] === 0 ? 0 : v));
    const rT = tf.tensor3d(weightsOfLoss, [2, 7, 37]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(replica.forward({ inputIds: ids, attentionMask: mask }, weights, withDelta), rT)) as tf.Scalar);
    const lossF64 = (name: string, index: number, h: number): number => {
      const w = (n: string): Float64Array => {
        const base = f64.get(n) as Float64Array;
        if (n !== `${name}.weight`) return base;
        const copy = base.slice();
        copy[index] = (copy[index] as number) + h;
        return copy;
      };
      const logits = llamaReferenceLogits(ref, w, ids, mask);
      let s = 0;
      logits.forEach((row, b) => row.forEach((v, t) => v.forEach((x, k) => (s += x * (weightsOfLoss[(b * 7 + t) * 37 + k] as number)))));
      return s;
    };
    for (const name of targets) {
      const g = grads[deltas.get(name)!.name]!.dataSync();
      for (const index of [0, 7, 31, 55]) {
        const fd = (lossF64(name, index, 1e-5) - lossF64(name, index, -1e-5)) / 2e-5;
        // fp32 backprop through 2 layers: relative error ~1e-5; 1e-3 leaves room and
        // still catches a missing or mis-shaped gradient term (errors of O(1)).
        expect(Math.abs((g[index] as number) - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
      }
    }
    tf.dispose([...Object.values(grads), rT, ...deltas.values()]);
    frozen.dispose();
  });

  it('fails on a missing weight with a ConfigError naming the tensor', () => {
    const partial: WeightMap = new Map(weights);
    partial.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => replica.forward({ inputIds: [[1, 2]] }, partial, new FrozenLinear(partial))).toThrow(ConfigError);
    expect(() => replica.forward({ inputIds: [[1, 2]] }, partial, new FrozenLinear(partial))).toThrow(/model\.layers\.1\.mlp\.up_proj\.weight/);
  });
});
