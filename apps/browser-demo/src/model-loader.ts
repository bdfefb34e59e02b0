import { ConfigError, parseSafetensors, tensorToFloat32 } from '@tsd-peft/core';
import { Tokenizer } from '@huggingface/tokenizers';
import { architectureFor, buildWeightMap, type CausalLMConfig, type CausalLMReplica, type StoredTensor, type WeightMap } from '@tsd-peft/transformers/browser';

/** A model loaded from a Hugging Face folder URL. */
export interface BrowserModel {
  replica: CausalLMReplica<CausalLMConfig>;
  weights: WeightMap;
  tokenizer: Tokenizer;
  /** The beginning-of-sequence id that starts every training row. */
  bosId: number;
  vocabSize: number;
  /** The folder URL, recorded as the adapter's base model. */
  source: string;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new ConfigError(`GET ${url} answered ${response.status}`, { file: url });
  return response;
}

/**
 * Loads `config.json`, `model.safetensors` and `tokenizer.json` from a
 * Hugging Face model folder URL (e.g. `…/resolve/main/` on the hub, or a
 * local server) into the same TF.js replica the Node packages use.
 */
export async function loadBrowserModel(folderUrl: string): Promise<BrowserModel> {
  const base = folderUrl.endsWith('/') ? folderUrl : `${folderUrl}/`;
  const [config, bytes, tokenizerJson, tokenizerConfig] = await Promise.all([
    fetchOk(`${base}config.json`).then((r) => r.json() as Promise<Record<string, unknown>>),
    fetchOk(`${base}model.safetensors`).then(async (r) => new Uint8Array(await r.arrayBuffer())),
    fetchOk(`${base}tokenizer.json`).then((r) => r.json() as Promise<Record<string, unknown>>),
    fetchOk(`${base}tokenizer_config.json`).then((r) => r.json() as Promise<Record<string, unknown>>),
  ]);
  const file = `${base}model.safetensors`;
  const spec = architectureFor(config['model_type'], `${base}config.json`);
  const replica = spec.createReplica(config, `${base}config.json`);
  const parsed = parseSafetensors(bytes, file);
  const stored = new Map<string, StoredTensor>();
  for (const [name, t] of parsed.tensors) stored.set(name, { shape: t.shape, read: () => tensorToFloat32(t, name) });
  const { weights } = buildWeightMap(stored, replica, spec, file);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const bosToken = typeof tokenizerConfig['bos_token'] === 'string' ? tokenizerConfig['bos_token'] : '<s>';
  const bosId = tokenizer.token_to_id(bosToken) ?? 1;
  return { replica, weights, tokenizer, bosId, vocabSize: replica.config.vocabSize, source: folderUrl };
}
