import type { AdapterMethod } from '@tsd-peft/tfjs';
import type { ModelFlopShape } from './model-flops.js';

/**
 * The `gpu` preset of `tsd-bench gpu`: training throughput of a ~110M Llama
 * with random weights (no hub here: the shapes are what matter for speed) at
 * batch 8 × 512, for a machine with a GPU. `--smoke` scales it down to a tiny
 * model that runs in seconds on a software adapter (Dawn on llvmpipe), which
 * is how the test checks the whole path without a GPU.
 */

/** The Llama fields (Hugging Face `config.json` names) the preset sets. */
export interface GpuLlamaConfig {
  model_type: 'llama';
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
  initializer_range: number;
}

/** Everything one throughput run fixes. */
export interface GpuPreset {
  name: 'gpu' | 'gpu-smoke';
  llama: GpuLlamaConfig;
  batch: number;
  seq: number;
  /** Timed optimizer steps (after the warm-up steps). */
  steps: number;
  /** Untimed first steps: WGSL pipeline compilation and buffer-pool growth. */
  warmupSteps: number;
  method: AdapterMethod;
  r: number;
  /** LoRA-Dash launch after this many steps (inside the warm-up, so timed steps include the dash term). */
  t: number;
  s: number;
  targetModules: 'all-linear' | string[];
  lr: number;
  /** Square sizes of the matmul peak measurement (MFU's denominator). */
  matmulSizes: number[];
}

/**
 * ~110M parameters: 12 layers of width 768 (12 heads), SwiGLU 2048, vocab
 * 32000 tied (24.6M in the embedding, 84.9M in the blocks), sequence 512.
 */
export const GPU_PRESET: GpuPreset = {
  name: 'gpu',
  llama: {
    model_type: 'llama',
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 12,
    vocab_size: 32000,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    initializer_range: 0.02,
  },
  batch: 8,
  seq: 512,
  steps: 10,
  warmupSteps: 3,
  method: 'lora-dash',
  r: 16,
  t: 2,
  s: 8,
  targetModules: 'all-linear',
  lr: 1e-4,
  matmulSizes: [1024, 2048, 4096],
};

/** The same path at toy size, for CI and CPU-only machines (seconds on llvmpipe). */
export const GPU_SMOKE_PRESET: GpuPreset = {
  ...GPU_PRESET,
  name: 'gpu-smoke',
  llama: {
    ...GPU_PRESET.llama,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 128,
    max_position_embeddings: 32,
  },
  batch: 2,
  seq: 16,
  steps: 2,
  warmupSteps: 2,
  r: 4,
  t: 1,
  s: 2,
  matmulSizes: [64, 128],
};

/** Parameter count of a Llama config (tied head counted once). */
export function llamaParameters(c: GpuLlamaConfig): number {
  const d = c.hidden_size;
  const kv = (d / c.num_attention_heads) * c.num_key_value_heads;
  const perLayer = 2 * d * d + 2 * d * kv + 3 * d * c.intermediate_size + 2 * d;
  return c.vocab_size * d * (c.tie_word_embeddings ? 1 : 2) + c.num_hidden_layers * perLayer + d;
}

/** The preset's matmul sizes for {@link trainingFlopsPerToken} (model-flops.ts). */
export function llamaFlopShape(c: GpuLlamaConfig): ModelFlopShape {
  const d = c.hidden_size;
  const kv = (d / c.num_attention_heads) * c.num_key_value_heads;
  return {
    blockLinearParams: c.num_hidden_layers * (2 * d * d + 2 * d * kv + 3 * d * c.intermediate_size),
    headParams: c.vocab_size * d,
    layers: c.num_hidden_layers,
    hidden: d,
  };
}
