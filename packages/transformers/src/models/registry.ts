import { ConfigError } from '@tsd-peft/core';
import type { RawConfig } from './config-fields.js';
import { parseGpt2Config } from './gpt2-config.js';
import { GPT2_CONV1D_MODULES, Gpt2Replica } from './gpt2.js';
import { LLAMA_FAMILY_TYPES, parseLlamaConfig } from './llama-config.js';
import { LlamaReplica } from './llama.js';
import type { CausalLMConfig, CausalLMReplica } from './types.js';

/**
 * What the loaders need to know about one architecture: how to read its
 * config, build its replica, and map checkpoint tensor names onto the
 * replica's weight-map names.
 */
export interface ArchitectureSpec {
  readonly modelTypes: readonly string[];
  /** Validates `config.json` and builds the replica. */
  createReplica(raw: RawConfig, file: string): CausalLMReplica<CausalLMConfig>;
  /** Checkpoint key → weight-map name, or null for buffers the replica ignores. */
  canonicalTensorName(key: string): string | null;
  /** True when the checkpoint stores this (canonical) tensor as `[in, out]`. */
  storedTransposed(name: string): boolean;
}

const llamaSpec: ArchitectureSpec = {
  modelTypes: LLAMA_FAMILY_TYPES,
  createReplica: (raw, file) => new LlamaReplica(parseLlamaConfig(raw, file)),
  // rotary inv_freq buffers of old checkpoints are recomputed from the config
  canonicalTensorName: (key) => (key.endsWith('.rotary_emb.inv_freq') ? null : key),
  storedTransposed: () => false,
};

const gpt2Conv1d = new RegExp(`^transformer\\.h\\.\\d+\\.(${GPT2_CONV1D_MODULES.map((m) => m.replace('.', '\\.')).join('|')})\\.weight$`);

const gpt2Spec: ArchitectureSpec = {
  modelTypes: ['gpt2'],
  createReplica: (raw, file) => new Gpt2Replica(parseGpt2Config(raw, file)),
  canonicalTensorName: (key) => {
    // causal-mask buffers of old checkpoints; the replica builds its own mask
    if (/\.attn\.(bias|masked_bias)$/.test(key)) return null;
    if (key === 'lm_head.weight' || key.startsWith('transformer.')) return key;
    return `transformer.${key}`; // the original gpt2 files omit the prefix
  },
  storedTransposed: (name) => gpt2Conv1d.test(name),
};

const SPECS: readonly ArchitectureSpec[] = [llamaSpec, gpt2Spec];

/** Every `model_type` the replicas support. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = SPECS.flatMap((s) => s.modelTypes);

/** The spec for `modelType`; a ConfigError listing the supported types otherwise. */
export function architectureFor(modelType: unknown, file: string): ArchitectureSpec {
  const spec = typeof modelType === 'string' ? SPECS.find((s) => s.modelTypes.includes(modelType)) : undefined;
  if (spec === undefined) {
    throw new ConfigError(`model_type ${JSON.stringify(modelType)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`, { file });
  }
  return spec;
}

/** Validates a raw `config.json` and builds the matching replica. */
export function createReplica(raw: RawConfig, file: string): CausalLMReplica<CausalLMConfig> {
  return architectureFor(raw['model_type'], file).createReplica(raw, file);
}
