import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  ShapeError,
  tensorToFloat32,
  TsdError,
  type SafetensorsTensor,
} from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';

const hfDir = (): string => fixturePath('reference', 'hf', 'stories260K');
const tmpRoot = mkdtempSync(join(tmpdir(), 'tsd-hf-folder-'));
let folders = 0;
let tensors: Map<string, SafetensorsTensor>;
let config: Record<string, unknown>;
let reference: CausalLM;
const ids = [[1, 403, 407, 261, 378, 432, 383]];

interface FolderSpec {
  tensors?: Map<string, SafetensorsTensor>;
  config?: Record<string, unknown>;
  tokenizer?: boolean;
}

/** A scratch model folder under the OS temp dir (never in the repo) with the fixture's config and tokenizer. */
function folder(spec: FolderSpec = {}): string {
  const dir = join(tmpRoot, `model-${folders++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec.config ?? config));
  if (spec.tokenizer !== false) {
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(hfDir(), f), join(dir, f));
  }
  if (spec.tensors !== undefined) writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(spec.tensors));
  return dir;
}

function without(name: string): Map<string, SafetensorsTensor> {
  const copy = new Map(tensors);
  copy.delete(name);
  return copy;
}

beforeAll(async () => {
  await useWasmBackend();
  tensors = parseSafetensors(new Uint8Array(readFileSync(join(hfDir(), 'model.safetensors')))).tensors;
  config = JSON.parse(readFileSync(join(hfDir(), 'config.json'), 'utf8')) as Record<string, unknown>;
  reference = await loadCausalLM(hfDir());
});
afterAll(() => {
  reference.dispose();
  rmSync(tmpRoot, { recursive: true, force: true });
});

describe('HF folder weights', () => {
  it('loads a sharded checkpoint (model.safetensors.index.json) to bitwise the same logits', async () => {
    const dir = folder();
    const names = [...tensors.keys()];
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    shards.forEach((list, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), serializeSafetensors(new Map(list.map((k) => [k, tensors.get(k)!]))));
      for (const k of list) weightMap[k] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const m = await loadCausalLM(dir);
    expect(m.source.files).toHaveLength(3);
    const [a, b] = [m.forward({ inputIds: ids }), reference.forward({ inputIds: ids })];
    expect(Buffer.from(a.dataSync().buffer).equals(Buffer.from(b.dataSync().buffer))).toBe(true);
    tf.dispose([a, b]);
    m.dispose();
  });

  it('rejects an index whose shard is missing or misplaces a tensor', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'gone.safetensors' } }));
    await expect(loadCausalLM(dir)).rejects.toThrow(/gone\.safetensors/);
    const dir2 = folder();
    writeFileSync(join(dir2, 'a.safetensors'), serializeSafetensors(tensors));
    const wm = Object.fromEntries([...tensors.keys()].map((k) => [k, k === 'model.norm.weight' ? 'b.safetensors' : 'a.safetensors']));
    writeFileSync(join(dir2, 'b.safetensors'), serializeSafetensors(new Map([['model.norm.weight', tensors.get('model.norm.weight')!]])));
    writeFileSync(join(dir2, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    await expect(loadCausalLM(dir2)).rejects.toThrow(SafetensorsError);
  });

  it.each([
    ['F16', encodeFloat16, decodeFloat16],
    ['BF16', encodeBfloat16, decodeBfloat16],
  ] as const)('widens %s weights to float32 exactly', async (dtype, encode, decode) => {
    const half = new Map([...tensors].map(([k, t]) => [k, { dtype, shape: t.shape, data: encode(tensorToFloat32(t, k)) } as SafetensorsTensor]));
    const m = await loadCausalLM(folder({ tensors: half }));
    const name = 'model.layers.2.mlp.down_proj.weight';
    expect(Array.from((m.weights.get(name) as tf.Tensor).dataSync())).toEqual(Array.from(decode(half.get(name)!.data)));
    m.dispose();
  });

  it('refuses integer (quantized) weights with a SafetensorsError naming file and tensor', async () => {
    const q = new Map(tensors);
    q.set('model.norm.weight', { dtype: 'I8', shape: [64], data: new Uint8Array(64) });
    const dir = folder({ tensors: q });
    await expect(loadCausalLM(dir)).rejects.toThrow(SafetensorsError);
    await expect(loadCausalLM(dir)).rejects.toThrow(/model\.safetensors.*model\.norm\.weight/);
  });
});

describe('config and weights that disagree', () => {
  it('hidden_size mismatch → ShapeError naming model.safetensors and the tensor', async () => {
    const dir = folder({ tensors, config: { ...config, hidden_size: 32, head_dim: 4 } });
    const err = await loadCausalLM(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as ShapeError).file).toContain('model.safetensors');
    expect((err as ShapeError).tensor).toBe('model.embed_tokens.weight');
  });

  it('vocab_size mismatch → ShapeError on the embedding', async () => {
    await expect(loadCausalLM(folder({ tensors, config: { ...config, vocab_size: 500 } }))).rejects.toThrow(/model\.embed_tokens\.weight.*shape \[512, 64\]/);
  });

  it('missing tensor → ConfigError naming it', async () => {
    await expect(loadCausalLM(folder({ tensors: without('model.layers.3.mlp.up_proj.weight') }))).rejects.toThrow(/model\.layers\.3\.mlp\.up_proj\.weight/);
  });

  it('untied config without lm_head.weight → ConfigError pointing at tie_word_embeddings', async () => {
    await expect(loadCausalLM(folder({ tensors, config: { ...config, tie_word_embeddings: false } }))).rejects.toThrow(/tie_word_embeddings=false.*tensor lm_head\.weight/);
  });

  it('unsupported model_type → ConfigError listing the supported ones', async () => {
    const err = await loadCausalLM(folder({ tensors, config: { ...config, model_type: 'bert' } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/"bert" is not supported; supported: llama, mistral, qwen2, gpt2/);
    expect((err as ConfigError).file).toContain('config.json');
  });

  it('rope_theta disagreeing with rope_parameters → ConfigError', async () => {
    await expect(loadCausalLM(folder({ tensors, config: { ...config, rope_theta: 5000 } }))).rejects.toThrow(/rope_theta 5000 disagrees/);
  });

  it('tokenizer larger than vocab_size → ConfigError', async () => {
    const small = new Map(tensors);
    small.set('model.embed_tokens.weight', { dtype: 'F32', shape: [256, 64], data: tensors.get('model.embed_tokens.weight')!.data.subarray(0, 256 * 64 * 4) });
    await expect(loadCausalLM(folder({ tensors: small, config: { ...config, vocab_size: 256 } }))).rejects.toThrow(/tokenizer has 512 tokens/);
  });
});

describe('folder contents', () => {
  it('without weights → TsdError listing what was looked for; pytorch_model.bin gets a hint', async () => {
    const dir = folder();
    await expect(loadCausalLM(dir)).rejects.toThrow(/no weights found \(looked for model\.safetensors\.index\.json, model\.safetensors, onnx\/model\.onnx\)/);
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    await expect(loadCausalLM(dir)).rejects.toThrow(/convert it to model\.safetensors/);
    await expect(loadCausalLM(dir)).rejects.toBeInstanceOf(TsdError);
  });

  it('loads without a tokenizer when the folder has none, and insists when asked', async () => {
    const dir = folder({ tensors, tokenizer: false });
    const m = await loadCausalLM(dir);
    expect(m.tokenizer).toBeNull();
    expect(existsSync(join(dir, 'tokenizer.json'))).toBe(false);
    m.dispose();
    await expect(loadCausalLM(dir, { tokenizer: true })).rejects.toThrow(ConfigError);
  });

  it('keeps a tied checkpoint’s stored lm_head copy out of the map and reports it unused', async () => {
    const withHead = new Map(tensors);
    withHead.set('lm_head.weight', tensors.get('model.embed_tokens.weight')!);
    const m = await loadCausalLM(folder({ tensors: withHead }));
    expect(m.source.unusedTensors).toEqual(['lm_head.weight']);
    expect(m.weights.get('lm_head.weight')).toBe(m.weights.get('model.embed_tokens.weight'));
    m.dispose();
  });

  it('a path that is neither a folder nor a hub id → ConfigError', async () => {
    await expect(loadCausalLM('/no/such/folder')).rejects.toThrow(ConfigError);
  });
});
