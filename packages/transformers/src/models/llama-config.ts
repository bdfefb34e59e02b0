import { ConfigError } from '@tsd-peft/core';
import { ConfigFields, type RawConfig } from './config-fields.js';

/** Model types served by the Llama-family replica. */
export const LLAMA_FAMILY_TYPES = ['llama', 'mistral', 'qwen2'] as const;

/** One of {@link LLAMA_FAMILY_TYPES}. */
export type LlamaFamilyType = (typeof LLAMA_FAMILY_TYPES)[number];

/** RoPE frequency scaling, as in transformers' `ROPE_INIT_FUNCTIONS` (default, linear, llama3). */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

/** A validated Llama-family config (camelCase mirror of the HF `config.json` fields the replica reads). */
export interface LlamaConfig {
  modelType: LlamaFamilyType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2 always; Llama with `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with `attention_bias`; never in Qwen2). */
  oBias: boolean;
  /** Bias on gate/up/down (Llama `mlp_bias`). */
  mlpBias: boolean;
  /** Keys further back than this are masked (Mistral/Qwen2 sliding window); null = full causal. */
  slidingWindow: number | null;
  bosTokenId: number[];
  eosTokenId: number[];
  padTokenId: number[];
}

/**
 * Validates a Llama/Mistral/Qwen2 `config.json` into a {@link LlamaConfig}.
 * `file` names the config in errors.
 */
export function parseLlamaConfig(raw: RawConfig, file: string): LlamaConfig {
  const f = new ConfigFields(raw, file);
  const modelType = f.optionalString('model_type', 'llama');
  if (!(LLAMA_FAMILY_TYPES as readonly string[]).includes(modelType)) {
    throw new ConfigError(`model_type "${modelType}" is not a Llama-family type (${LLAMA_FAMILY_TYPES.join(', ')})`, { file });
  }
  const type = modelType as LlamaFamilyType;
  const hiddenSize = f.positiveInt('hidden_size');
  const numHeads = f.positiveInt('num_attention_heads');
  const numKvHeads = f.optionalPositiveInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`, { file });
  }
  const defaultHeadDim = hiddenSize / numHeads;
  const headDim = f.optionalPositiveInt('head_dim', null) ?? (Number.isInteger(defaultHeadDim) ? defaultHeadDim : null);
  if (headDim === null) {
    throw new ConfigError(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads} and head_dim is unset`, { file });
  }
  if (headDim % 2 !== 0) throw f.invalid('head_dim', headDim, 'even (RoPE rotates pairs)');
  const act = f.optionalString('hidden_act', 'silu');
  if (act !== 'silu' && act !== 'swish') {
    throw new ConfigError(`hidden_act "${act}" is not supported by the Llama replica (silu only)`, { file });
  }
  const attentionBias = f.optionalBoolean('attention_bias', false);
  const useSliding = type === 'qwen2' ? f.optionalBoolean('use_sliding_window', false) : true;
  const slidingWindow = useSliding ? f.optionalPositiveInt('sliding_window', null) : null;
  if (type === 'qwen2' && slidingWindow !== null) {
    // Qwen2 only slides on layers >= max_window_layers; one window for all layers would be wrong.
    throw new ConfigError('qwen2 with use_sliding_window=true is not supported', { file });
  }
  const { theta, scaling } = parseRope(f);
  return {
    modelType: type,
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('intermediate_size'),
    numLayers: f.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: f.optionalPositiveNumber('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    maxPositionEmbeddings: f.optionalPositiveInt('max_position_embeddings', 2048),
    tieWordEmbeddings: f.optionalBoolean('tie_word_embeddings', false),
    qkvBias: type === 'qwen2' ? true : attentionBias,
    oBias: type === 'qwen2' ? false : attentionBias,
    mlpBias: type === 'llama' ? f.optionalBoolean('mlp_bias', false) : false,
    slidingWindow,
    bosTokenId: f.tokenIds('bos_token_id'),
    eosTokenId: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenIds('pad_token_id'),
  };
}

/**
 * RoPE base and scaling. transformers 5 writes `rope_parameters`; older files
 * write `rope_theta` plus an optional `rope_scaling`. When both carry a theta
 * they must agree, else the file is ambiguous.
 */
function parseRope(f: ConfigFields): { theta: number; scaling: RopeScaling } {
  const params = f.raw['rope_parameters'] ?? f.raw['rope_scaling'];
  const field = f.raw['rope_parameters'] !== undefined && f.raw['rope_parameters'] !== null ? 'rope_parameters' : 'rope_scaling';
  const topTheta = f.optionalPositiveNumber('rope_theta', Number.NaN);
  if (params === undefined || params === null) {
    return { theta: Number.isNaN(topTheta) ? 10000 : topTheta, scaling: { type: 'default' } };
  }
  if (typeof params !== 'object' || Array.isArray(params)) throw f.invalid(field, params, 'an object');
  const sub = new ConfigFields(params as RawConfig, f.file);
  const nestedTheta = sub.optionalPositiveNumber('rope_theta', Number.NaN);
  if (!Number.isNaN(nestedTheta) && !Number.isNaN(topTheta) && nestedTheta !== topTheta) {
    throw new ConfigError(`rope_theta ${topTheta} disagrees with ${field}.rope_theta ${nestedTheta}`, { file: f.file });
  }
  const theta = Number.isNaN(nestedTheta) ? (Number.isNaN(topTheta) ? 10000 : topTheta) : nestedTheta;
  const type = sub.optionalString('rope_type', sub.optionalString('type', 'default'));
  const partial = sub.optionalPositiveNumber('partial_rotary_factor', 1);
  if (partial !== 1) throw new ConfigError(`${field}.partial_rotary_factor ${partial} is not supported`, { file: f.file });
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: sub.optionalPositiveNumber('factor', 1) } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: sub.optionalPositiveNumber('factor', 8),
          lowFreqFactor: sub.optionalPositiveNumber('low_freq_factor', 1),
          highFreqFactor: sub.optionalPositiveNumber('high_freq_factor', 4),
          originalMaxPositionEmbeddings: sub.optionalPositiveInt('original_max_position_embeddings', 8192),
        },
      };
    default:
      throw new ConfigError(`${field}.rope_type "${type}" is not supported (default, linear, llama3)`, { file: f.file });
  }
}
