import type * as tf from '@tensorflow/tfjs-core';
import type { BaseWeight, LinearProvider } from '@tsd-peft/tfjs';
import type { Gpt2Config } from './gpt2-config.js';
import type { LlamaConfig } from './llama-config.js';

/** The validated config of any supported architecture. */
export type CausalLMConfig = LlamaConfig | Gpt2Config;

/**
 * Named weights in Hugging Face layout (`model.layers.0.self_attn.q_proj.weight`
 * → `[out, in]`): fp32 tensors, or for 2-D weights loaded with a reduced
 * `frozenDtype`, `ReducedWeight`s (bfloat16 / int8 codes; norms and biases stay
 * fp32). For tied heads, `lm_head.weight` is the same object as the input
 * embedding, as in a PyTorch `state_dict`.
 */
export type WeightMap = Map<string, BaseWeight>;

/** Token ids, masks or positions: an int32 `[B, T]` tensor or nested arrays. */
export type IdMatrix = tf.Tensor2D | readonly (readonly number[])[];

/** Inputs of a causal LM forward, as HF `model(input_ids, attention_mask, position_ids)`. */
export interface CausalLMInputs {
  /** `[B, T]` token ids. */
  inputIds: IdMatrix;
  /** `[B, T]` 1 for real tokens, 0 for padding; omitted means all real. */
  attentionMask?: IdMatrix;
  /** `[B, T]` positions; omitted means 0..T−1 in every row (HF's default without a cache). */
  positionIds?: IdMatrix;
}

/**
 * One architecture's replica: a pure forward over a weight map and a
 * {@link LinearProvider}, plus what loaders and adapters need to know about it.
 * Caches (RoPE tables, causal masks) live here and are freed by `dispose`.
 */
export interface CausalLMReplica<C extends CausalLMConfig = CausalLMConfig> {
  readonly modelType: string;
  readonly config: C;
  /**
   * Logits `[B, T, vocab]`. Every projection, lm_head included, goes through
   * `linear.linear(modulePath, x2d)`; biases are added here.
   */
  forward(inputs: CausalLMInputs, weights: WeightMap, linear: LinearProvider): tf.Tensor3D;
  /**
   * The final normed hidden states `[B, T, hidden]`: {@link CausalLMReplica.forward}
   * without `lm_head`, for losses that apply the head in chunks of rows so
   * the `[B·T, vocab]` logits never exist at once (`tokenBatchLoss`).
   */
  hiddenStates(inputs: CausalLMInputs, weights: WeightMap, linear: LinearProvider): tf.Tensor3D;
  /** Module paths of every projection in forward order (adapter targets), lm_head last. */
  linearModules(): string[];
  /** Tensor name → shape of every weight the forward reads (the tied lm_head alias included). */
  expectedWeights(): Map<string, number[]>;
  /** `lm_head.weight`'s source tensor name when the head is tied, else null. */
  tiedHeadSource(): string | null;
  /**
   * Recompute each decoder layer's forward in the backward pass instead of
   * keeping its activations (HF `gradient_checkpointing_enable()`): less
   * memory, about one more forward per step. The linear provider must list
   * its trainable tensors (`gradientTensors`; `AdapterModel` does).
   */
  gradientCheckpointingEnable(): void;
  /** Keep every activation again (the default). */
  gradientCheckpointingDisable(): void;
  /** True while gradient checkpointing is on. */
  readonly isGradientCheckpointing: boolean;
  /** Frees cached tensors (not the weights). */
  dispose(): void;
}
