/**
 * Real model shapes for the perf bench (`npm run bench:perf -- --shapes …`,
 * issue 19): the configs of SmolLM2-135M, Qwen2.5-0.5B and Llama-3.2-1B as
 * their `config.json` files give them, built with random weights in exactly
 * those shapes (no download), and the methods measured on them.
 *
 * Methods at real shapes: LoRA r = 8 (alpha 16) on q/v (PEFT's default
 * targets for Llama), LoRA r = 8 on every decoder projection, LoRA-Dash
 * (r = 8 + s = 8 on q/v, launched after t = 1 step so every timed step is in
 * the dash phase), and full fine-tuning of every decoder projection. The
 * heads are tied to the embeddings in all three models; embeddings, norms
 * and biases stay frozen, in TF.js and PyTorch alike.
 */
import type { AdapterConfig } from '@tsd-peft/tfjs';

export const REAL_SHAPES = {
  'smollm2-135m': {
    model_type: 'llama',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  },
  'qwen2.5-0.5b': {
    model_type: 'qwen2',
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
  },
  'llama-3.2-1b': {
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
  },
} as const;

/** A real-shape config by name. */
export type ShapeName = keyof typeof REAL_SHAPES;

/** Methods measured at real shapes. */
export type ScaleMethod = 'lora' | 'lora-all' | 'lora-dash' | 'full';

const ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** The adapter config of a method at real shapes (see the file comment). */
export function scaleAdapterFor(method: ScaleMethod): AdapterConfig {
  if (method === 'full') return { method: 'full', targetModules: ALL_LINEAR };
  if (method === 'lora-all') return { method: 'lora', r: 8, alpha: 16, targetModules: ALL_LINEAR };
  if (method === 'lora') return { method: 'lora', r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] };
  return { method: 'lora-dash', r: 8, alpha: 16, s: 8, t: 1, targetModules: ['q_proj', 'v_proj'] };
}
