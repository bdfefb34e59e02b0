import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, createPeftAdapter, Rng, ShapeError, type LoraFactors } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { cosineWarmupDecay, type ProgressEvent } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import type { TokenBatch } from './data.js';
import { batchLoss, fineTune, meanLoss, tokenBatchFromRows } from './fine-tune.js';

let model: CausalLM;
// 10 240 consecutive tinyshakespeare token ids (the trajectory fixture's batches), cut into rows.
let stream: number[];

beforeAll(async () => {
  await useWasmBackend();
  model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'), { tokenizer: false });
  const file = fixturePath('reference', 'lora-dash-trajectory', 'batches.json');
  stream = (JSON.parse(readFileSync(file, 'utf8')) as { batches: number[][][] }).batches.flat(2);
});
afterAll(() => model.dispose());

const rows = (start: number, count: number, len: number) => Array.from({ length: count }, (_, i) => stream.slice(start + i * len, start + (i + 1) * len));
const fullMask = (r: number[][]) => r.map((row) => row.map((_, t) => (t === 0 ? 0 : 1)));
const plainBatch = (r: number[][]) => tokenBatchFromRows({ ids: r, lossMask: fullMask(r) });

/** Float64 masked next-token NLL of logits [B, T, V] (the reference convention: position t predicts t+1). */
function referenceNll(logits: Float32Array, shape: number[], ids: number[][], lossMask: number[][]): number {
  const [B, T, V] = shape as [number, number, number];
  let sum = 0;
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      if (lossMask[b]?.[t + 1] !== 1) continue;
      const off = (b * T + t) * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[off + v] as number);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp((logits[off + v] as number) - max);
      sum += max + Math.log(s) - (logits[off + (ids[b]?.[t + 1] as number)] as number);
      count++;
    }
  }
  return sum / count;
}

describe('batchLoss / meanLoss', () => {
  it('masks padding and prompt tokens exactly as a float64 NLL over the counted targets', () => {
    // Row 0 is a "prompt + completion" (loss on its last 6 tokens only); row 1 is shorter and right-padded.
    const long = stream.slice(0, 16);
    const short = stream.slice(16, 26);
    const ids = [long, [...short, ...Array<number>(6).fill(0)]];
    const attentionMask = [long.map(() => 1), [...short.map(() => 1), ...Array<number>(6).fill(0)]];
    const lossMask = [long.map((_, t) => (t >= 10 ? 1 : 0)), [...short.map((_, t) => (t === 0 ? 0 : 1)), ...Array<number>(6).fill(0)]];
    const batch = tokenBatchFromRows({ ids, attentionMask, lossMask });
    expect(batch.tokens).toBe(6 + 9);
    const loss = batchLoss(model, model.frozen, batch);
    // Reference: each row run alone and unpadded (so padding cannot leak through attention), float64 NLL.
    const nll = (row: number[], mask: number[]) => {
      const logits = model.forward({ inputIds: [row] });
      const value = referenceNll(logits.dataSync() as Float32Array, logits.shape, [row], [mask]);
      logits.dispose();
      return value;
    };
    const expected = (nll(long, lossMask[0] as number[]) * 6 + nll(short, (lossMask[1] as number[]).slice(0, 10)) * 9) / 15;
    // fp32 logits and a fp32 log-sum-exp: 1e-5 absolute on a loss of ~4 is ~20 ulp of headroom.
    expect(Math.abs((loss.dataSync()[0] as number) - expected)).toBeLessThan(1e-5);
    loss.dispose();
    // meanLoss weights batches by their counted tokens: split the same rows into two batches.
    const split = [tokenBatchFromRows({ ids: [long], lossMask: [lossMask[0] as number[]] }), tokenBatchFromRows({ ids: [short], lossMask: [(lossMask[1] as number[]).slice(0, 10)] })];
    expect(Math.abs(meanLoss(model, split) - expected)).toBeLessThan(1e-5);
  });

  it('rejects inconsistent batches with typed errors', () => {
    expect(() =>
      tokenBatchFromRows({
        ids: [[1, 2], [3]],
        lossMask: [
          [0, 1],
          [0, 1],
        ],
      }),
    ).toThrow(/ids row 1 has length 1/);
    expect(() => tokenBatchFromRows({ ids: [], lossMask: [] })).toThrow(ConfigError);
    const bad: TokenBatch = { ...plainBatch([[1, 2, 3]]), lossMask: new Int32Array(2) };
    expect(() => batchLoss(model, model.frozen, bad)).toThrow(/lossMask has 2 entries/);
    expect(() => meanLoss(model, [tokenBatchFromRows({ ids: [[1, 2]], lossMask: [[0, 0]] })])).toThrow(/no counted target tokens/);
  });
});

describe('fineTune', () => {
  const base = { method: 'lora' as const, r: 4, alpha: 8, seed: 3, targetModules: ['q_proj', 'v_proj'] };

  it('equals one big batch when the same rows are split into accumulated micro-batches', async () => {
    const big = (i: number) => plainBatch(rows(i * 128, 4, 32));
    const half = (i: number) => plainBatch(rows(Math.floor(i / 2) * 128 + (i % 2) * 64, 2, 32));
    const a = await fineTune({ model, adapter: base, data: big, steps: 3, lr: 1e-2 });
    const b = await fineTune({ model, adapter: base, data: half, steps: 3, lr: 1e-2, accumulationSteps: 2 });
    try {
      // Equal token counts per micro-batch, so mean-of-means = mean; only fp32 summation order differs.
      a.result.lossHistory.forEach((l, i) => expect(Math.abs(l - (b.result.lossHistory[i] as number))).toBeLessThan(1e-5));
      for (const [name, v] of a.adapter.trainableVariables()) {
        const w = b.adapter.trainableVariables().get(name) as tf.Variable;
        const x = v.dataSync();
        const y = w.dataSync();
        let diff = 0;
        let scale = 0;
        for (let i = 0; i < x.length; i++) {
          diff = Math.max(diff, Math.abs((x[i] as number) - (y[i] as number)));
          scale = Math.max(scale, Math.abs(x[i] as number));
        }
        // After 3 Adam steps of 1e-2, fp32 gradient differences move weights by ≪ 1e-4 of their scale.
        expect(diff / scale, name).toBeLessThan(1e-4);
      }
      expect(a.result.lossHistory[2]).toBeLessThan(a.result.lossHistory[0] as number);
    } finally {
      a.adapter.dispose();
      b.adapter.dispose();
    }
  });

  it('runs schedules, evaluation hooks and progress with tokens/s, and trains "full" on all linear modules', async () => {
    const events: ProgressEvent[] = [];
    const batches = [0, 1, 2, 3].map((i) => plainBatch(rows(i * 64, 2, 32)));
    const seen: string[] = [];
    const { adapter, result } = await fineTune({
      model,
      adapter: { method: 'full' },
      data: (i) => batches[i] as TokenBatch,
      steps: 4,
      lr: 1e-3,
      schedule: 'cosine',
      warmupSteps: 1,
      optimizer: { type: 'adamw', weightDecay: 0.01 },
      clipGradNorm: 1,
      evaluate: {
        every: 2,
        run: ({ step, adapter: a }) => {
          seen.push(`${step}:${a.config.method}`);
          return { eval_loss: meanLoss(model, [batches[3] as TokenBatch], a) };
        },
      },
      onProgress: (e) => {
        events.push(e);
      },
    });
    try {
      // 'full' defaults to every linear module except the tied lm_head / embeddings: 7 per layer × 5.
      expect(adapter.targetModules).toHaveLength(35);
      const schedule = cosineWarmupDecay({ lr: 1e-3, warmupSteps: 1, totalSteps: 4 });
      expect(events.map((e) => e.lr)).toEqual([0, 1, 2, 3].map(schedule));
      expect(events.every((e) => e.tokensPerSecond !== null && e.tokensPerSecond > 0)).toBe(true);
      expect(seen).toEqual(['2:full', '4:full']);
      expect(result.evalHistory.map((r) => r.step)).toEqual([2, 4]);
    } finally {
      adapter.dispose();
    }
  });

  it('starts from given factors and disposes everything when training fails', async () => {
    const rng = Rng.fromSeed(11);
    const modules = new Map<string, LoraFactors>();
    for (const name of ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj']) {
      const out = name.endsWith('q_proj') ? 64 : 32;
      const rand = (n: number) => Float32Array.from({ length: n }, () => rng.nextFloat() - 0.5);
      modules.set(name, { A: { rows: 4, cols: 64, data: rand(256) }, B: { rows: out, cols: 4, data: rand(out * 4) }, scaling: 2 });
    }
    const initial = createPeftAdapter(modules, { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] });
    const started = await fineTune({ model, adapter: { ...base, targetModules: [...modules.keys()] }, initialAdapter: initial, data: () => plainBatch([[1, 2]]), steps: 0, lr: 1e-3 });
    for (const [name, f] of modules) {
      expect(started.adapter.trainableVariables().get(`${name}.lora_A.weight`)?.dataSync()).toEqual(f.A.data);
      expect(started.adapter.trainableVariables().get(`${name}.lora_B.weight`)?.dataSync()).toEqual(f.B.data);
    }
    started.adapter.dispose();
    const before = tf.memory().numTensors;
    const outOfVocab = tokenBatchFromRows({ ids: [[1, 2, 9999]], lossMask: [[0, 1, 1]] });
    await expect(fineTune({ model, adapter: base, data: () => outOfVocab, steps: 1, lr: 1e-3 })).rejects.toThrow(ShapeError);
    expect(tf.memory().numTensors).toBe(before);
    await expect(fineTune({ model, adapter: base, data: () => outOfVocab, steps: 1, lr: () => 1e-3, schedule: 'linear' })).rejects.toThrow(/either lr as a schedule/);
    await expect(fineTune({ model, adapter: { ...base, targetModules: ['nope_proj'] }, data: () => outOfVocab, steps: 1, lr: 1e-3 })).rejects.toThrow(
      /'nope_proj' matched no 2-D weight; available modules: .*model\.layers\.0\.self_attn\.q_proj/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
