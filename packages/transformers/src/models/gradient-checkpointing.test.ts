/**
 * Gradient checkpointing (issue 19): the gradients of every trainable tensor
 * are those of the plain forward, for LoRA, LoRA-Dash after its launch, full
 * fine-tuning and LoRA-Init's gradient probes, on Llama (padded batch, GQA)
 * and GPT-2; and one gradient step holds fewer tensor bytes at its peak.
 *
 * Tolerance: the recomputed layer runs the same kernels on the same inputs,
 * so only the order in which a residual stream's gradient contributions are
 * summed may differ; that is fp32 rounding of a handful of additions,
 * ~1e-7 relative each. 1e-5 of the largest gradient entry leaves room for
 * that and still fails on any missing or doubled term (those are O(1)).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng } from '@tsd-peft/core';
import { injectAdapters, type AdapterConfig, type AdapterModel, type LinearProvider } from '@tsd-peft/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomCausalLM } from '../parallel/random-model.js';
import { TINY_LLAMA } from '../parallel/test-fixtures/tiny-llama-job.js';
import { causalLmLoss } from '../training/loss.js';
import type { CausalLMConfig, CausalLMReplica, WeightMap } from './types.js';
import { useWasmBackend } from './test-backend.test-helper.js';

beforeAll(useWasmBackend);

const TINY_GPT2 = { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 2, vocab_size: 61, n_positions: 32 } as const;
const [BATCH, SEQ] = [2, 9];
const ids = () =>
  tf.tensor2d(
    Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i * 17 + 3) % 61),
    [BATCH, SEQ],
    'int32',
  );
// the second row is right-padded, so the attention mask enters every layer
const mask = () =>
  tf.tensor2d(
    Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i >= SEQ + 6 ? 0 : 1)),
    [BATCH, SEQ],
    'int32',
  );

/** Every B (and dash d) random, so that A gets a non-zero gradient too. */
function randomizeZeroFactors(model: AdapterModel): void {
  const rng = Rng.fromSeed(11);
  for (const [name, v] of model.trainableVariables()) {
    if (!name.endsWith('lora_B.weight') && !name.endsWith('dash_d')) continue;
    v.assign(
      tf.tensor(
        Float32Array.from({ length: v.size }, () => rng.normal() * 0.1),
        v.shape,
      ),
    );
  }
}

function loss(replica: CausalLMReplica<CausalLMConfig>, weights: WeightMap, model: AdapterModel): tf.Scalar {
  return tf.tidy(() => {
    const input = ids();
    return causalLmLoss(replica.forward({ inputIds: input, attentionMask: mask() }, weights, model), input, mask());
  });
}

/** Gradients of every trainable variable, by name, without and with checkpointing. */
function gradsBothWays(raw: Record<string, unknown>, adapter: AdapterConfig, launch = false): Map<string, [Float32Array, Float32Array]> {
  const { replica, weights } = randomCausalLM(raw, 5);
  const model = injectAdapters(weights, adapter);
  try {
    if (launch) model.afterOptimizerStep(1); // LoRA-Dash with t = 1 launches here
    randomizeZeroFactors(model);
    const vars = model.trainableVariables();
    const run = (): Map<string, Float32Array> => {
      const { value, grads } = tf.variableGrads(() => loss(replica, weights, model), [...vars.values()]);
      value.dispose();
      const out = new Map<string, Float32Array>();
      for (const [name, v] of vars) {
        const g = grads[v.name];
        if (g !== undefined) out.set(name, g.dataSync() as Float32Array);
      }
      tf.dispose(Object.values(grads));
      return out;
    };
    const plain = run();
    replica.gradientCheckpointingEnable();
    const checkpointed = run();
    expect([...checkpointed.keys()]).toEqual([...plain.keys()]);
    return new Map([...plain].map(([name, g]) => [name, [g, checkpointed.get(name) as Float32Array]]));
  } finally {
    model.dispose();
    replica.dispose();
    tf.dispose([...new Set(weights.values())] as tf.Tensor[]);
  }
}

function expectClose(pairs: Map<string, [Float32Array, Float32Array]>, expectedCount: number): void {
  expect(pairs.size).toBe(expectedCount);
  for (const [name, [a, b]] of pairs) {
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i] as number));
      diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    }
    expect(scale, name).toBeGreaterThan(0);
    expect(diff, name).toBeLessThanOrEqual(1e-5 * scale);
  }
}

describe('gradient checkpointing gives the same gradients', () => {
  it('LoRA on every projection of a GQA Llama, padded batch', () => {
    const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    // 2 layers × 7 modules × (A, B)
    expectClose(gradsBothWays(TINY_LLAMA, { method: 'lora', r: 4, alpha: 8, targetModules: targets }), 28);
  });

  it('LoRA-Dash after its launch (A, B and d)', () => {
    expectClose(gradsBothWays(TINY_LLAMA, { method: 'lora-dash', r: 4, alpha: 8, s: 2, t: 1, targetModules: ['q_proj', 'v_proj'] }, true), 12);
  });

  it('full fine-tuning, lm_head (outside the layers) included', () => {
    expectClose(gradsBothWays(TINY_LLAMA, { method: 'full', targetModules: ['q_proj', 'down_proj', 'lm_head'] }), 5);
  });

  it('GPT-2 blocks', () => {
    expectClose(gradsBothWays(TINY_GPT2, { method: 'lora', r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] }), 8);
  });

  it("LoRA-Init's gradient probes see the same ΔW estimate", () => {
    const estimate = (checkpointing: boolean): Float32Array => {
      const { replica, weights } = randomCausalLM(TINY_LLAMA, 5);
      if (checkpointing) replica.gradientCheckpointingEnable();
      const model = injectAdapters(weights, { method: 'lora-init', r: 2, alpha: 4, targetModules: ['q_proj'], initEstimate: 'gradient' } as AdapterConfig);
      try {
        model.estimateInitFromGradients([() => loss(replica, weights, model)]);
        return Float32Array.from([...model.trainableVariables().values()].flatMap((v) => [...v.dataSync()]));
      } finally {
        model.dispose();
        replica.dispose();
        tf.dispose([...new Set(weights.values())] as tf.Tensor[]);
      }
    };
    const plain = estimate(false);
    const checkpointed = estimate(true);
    const scale = Math.max(...plain.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < plain.length; i++) expect(Math.abs((plain[i] as number) - (checkpointed[i] as number))).toBeLessThanOrEqual(1e-4 * scale);
  });
});

describe('gradient checkpointing memory', () => {
  it('holds fewer tensor bytes at the peak of a gradient step, and leaks nothing', async () => {
    const raw = { ...TINY_LLAMA, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 6, max_position_embeddings: 128 };
    const { replica, weights } = randomCausalLM(raw, 5);
    const model = injectAdapters(weights, { method: 'lora', r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] });
    const input = tf.tensor2d(
      Int32Array.from({ length: 2 * 128 }, (_, i) => (i * 7) % 61),
      [2, 128],
      'int32',
    );
    const vars = [...model.trainableVariables().values()];
    const peak = async (): Promise<{ bytes: number; tensors: number; leaked: number }> => {
      const tensorsBefore = tf.memory().numTensors;
      const bytesBefore = tf.memory().numBytes;
      let tensorsAtEnd = 0;
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => causalLmLoss(replica.forward({ inputIds: input }, weights, model), input), vars);
        tf.dispose([value, ...Object.values(grads)]);
        tensorsAtEnd = tf.memory().numTensors;
      });
      return {
        bytes: profile.peakBytes - bytesBefore,
        tensors: Math.max(...profile.kernels.map((k) => k.totalTensorsSnapshot)) - tensorsBefore,
        leaked: tensorsAtEnd - tensorsBefore,
      };
    };
    try {
      await peak(); // the first forward fills the RoPE, mask and pre-transposed weight caches, which stay
      const plain = await peak();
      expect(plain.leaked).toBe(0);
      replica.gradientCheckpointingEnable();
      const checkpointed = await peak();
      expect(checkpointed.leaked).toBe(0);
      // 6 layers' activations against 1 layer's plus 6 kept inputs: well under half
      expect(checkpointed.bytes).toBeLessThan(0.5 * plain.bytes);
      expect(checkpointed.tensors).toBeLessThan(plain.tensors);
    } finally {
      model.dispose();
      replica.dispose();
      tf.dispose([...(new Set(weights.values()) as Set<tf.Tensor>), input]);
    }
  });

  it('needs a provider that lists its trainable tensors', () => {
    const { replica, weights } = randomCausalLM(TINY_LLAMA, 5);
    replica.gradientCheckpointingEnable();
    const bare: LinearProvider = { linear: (name, x) => tf.matMul(x, weights.get(`${name}.weight`) as tf.Tensor2D, false, true) };
    try {
      expect(() => replica.forward({ inputIds: [[1, 2, 3]] }, weights, bare)).toThrow(ConfigError);
    } finally {
      replica.dispose();
      tf.dispose([...new Set(weights.values())] as tf.Tensor[]);
    }
  });
});
