import { ConfigError } from '@tsd-peft/core';
import { ConfigFields, type RawConfig } from './config-fields.js';

/** MLP activations the GPT-2 replica implements (HF `ACT2FN` names). */
export const GPT2_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;

/** One of {@link GPT2_ACTIVATIONS}. */
export type Gpt2Activation = (typeof GPT2_ACTIVATIONS)[number];

/** A validated GPT-2 config (camelCase mirror of HF `GPT2Config`). */
export interface Gpt2Config {
  modelType: 'gpt2';
  vocabSize: number;
  /** Learned positions available (`n_positions`). */
  maxPositionEmbeddings: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  /** MLP width (`n_inner`, default 4·n_embd). */
  innerSize: number;
  activation: Gpt2Activation;
  layerNormEps: number;
  /** Divide scores by √head_dim (`scale_attn_weights`). */
  scaleAttnWeights: boolean;
  /** Also divide scores of layer i by i+1 (`scale_attn_by_inverse_layer_idx`). */
  scaleAttnByInverseLayerIdx: boolean;
  tieWordEmbeddings: boolean;
  bosTokenId: number[];
  eosTokenId: number[];
  padTokenId: number[];
}

/** Validates a GPT-2 `config.json` into a {@link Gpt2Config}; `file` names it in errors. */
export function parseGpt2Config(raw: RawConfig, file: string): Gpt2Config {
  const f = new ConfigFields(raw, file);
  const modelType = f.optionalString('model_type', 'gpt2');
  if (modelType !== 'gpt2') throw new ConfigError(`model_type "${modelType}" is not gpt2`, { file });
  const hiddenSize = f.positiveInt('n_embd');
  const numHeads = f.positiveInt('n_head');
  if (hiddenSize % numHeads !== 0) {
    throw new ConfigError(`n_embd ${hiddenSize} is not divisible by n_head ${numHeads}`, { file });
  }
  const activation = f.optionalString('activation_function', 'gelu_new');
  if (!(GPT2_ACTIVATIONS as readonly string[]).includes(activation)) {
    throw new ConfigError(`activation_function "${activation}" is not supported (${GPT2_ACTIVATIONS.join(', ')})`, { file });
  }
  if (f.optionalBoolean('add_cross_attention', false)) {
    throw new ConfigError('add_cross_attention=true is not supported by the causal LM replica', { file });
  }
  return {
    modelType: 'gpt2',
    vocabSize: f.positiveInt('vocab_size'),
    maxPositionEmbeddings: f.optionalPositiveInt('n_positions', 1024),
    hiddenSize,
    numLayers: f.positiveInt('n_layer'),
    numHeads,
    headDim: hiddenSize / numHeads,
    innerSize: f.optionalPositiveInt('n_inner', 4 * hiddenSize),
    activation: activation as Gpt2Activation,
    layerNormEps: f.optionalPositiveNumber('layer_norm_epsilon', 1e-5),
    scaleAttnWeights: f.optionalBoolean('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: f.optionalBoolean('scale_attn_by_inverse_layer_idx', false),
    tieWordEmbeddings: f.optionalBoolean('tie_word_embeddings', true),
    bosTokenId: f.tokenIds('bos_token_id'),
    eosTokenId: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenIds('pad_token_id'),
  };
}
