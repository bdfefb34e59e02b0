import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fixturePath } from '@tsd-peft/core/testing';
import { setupBackend } from '@tsd-peft/tfjs';
import { loadCausalLM } from '@tsd-peft/transformers';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HUB_MODEL, resolveModel } from './resolve-model.js';

const saved = process.env['TSD_FIXTURES'];
afterEach(() => {
  if (saved === undefined) delete process.env['TSD_FIXTURES'];
  else process.env['TSD_FIXTURES'] = saved;
});
beforeAll(async () => {
  await setupBackend('wasm');
});

const bin = fixturePath('models', 'stories260K', 'stories260K.bin');
const sp = fixturePath('models', 'stories260K', 'tok512.model');
const hfFolder = fixturePath('reference', 'hf', 'stories260K');

describe('resolveModel', () => {
  it('uses --model first, and the fixtures folder when there is no --model', async () => {
    expect(await resolveModel({ model: 'org/name' })).toEqual({ spec: 'org/name', source: '--model' });
    expect(await resolveModel({ offline: true })).toEqual({ spec: hfFolder, source: 'fixtures' });
  });

  it('offline without fixtures or cache: one error naming the hub URL and the alternatives', async () => {
    process.env['TSD_FIXTURES'] = mkdtempSync(join(tmpdir(), 'tsd-nofix-'));
    await expect(resolveModel({ offline: true, cacheDir: mkdtempSync(join(tmpdir(), 'tsd-cache-')) })).rejects.toThrow(
      'offline mode (HF_HUB_OFFLINE/TSD_OFFLINE): cannot download hub:karpathy/tinyllamas/stories260K/stories260K.bin@main; pass --model, or set TSD_FIXTURES to a folder with reference/hf/stories260K',
    );
  });

  it('downloads karpathy/tinyllamas into the hub cache (transformers.js layout), converts tok512.model, and the result computes the reference logits', async () => {
    process.env['TSD_FIXTURES'] = mkdtempSync(join(tmpdir(), 'tsd-nofix-'));
    const cacheDir = mkdtempSync(join(tmpdir(), 'tsd-cache-'));
    const served: string[] = [];
    // a stand-in hub serving the real files (the fixtures hold byte-identical copies of the hub's)
    const fetchImpl = async (url: string) => {
      served.push(url);
      const file = url.endsWith(DEFAULT_HUB_MODEL.checkpoint) ? bin : sp;
      const bytes = readFileSync(file);
      return { ok: true, status: 200, statusText: 'OK', arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer };
    };
    const resolved = await resolveModel({ cacheDir, fetchImpl, offline: false });
    expect(resolved.source).toBe('hub-cache');
    expect(resolved.spec).toBe(join(cacheDir, 'karpathy/tinyllamas', DEFAULT_HUB_MODEL.checkpoint));
    expect(served).toEqual(['https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin', 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/tok512.model']);
    expect(await resolveModel({ cacheDir, fetchImpl, offline: false })).toEqual(resolved); // cached: no new downloads
    expect(served).toHaveLength(2);

    const viaHub = await loadCausalLM(resolved.spec, { tokenizer: resolved.tokenizer as string });
    const reference = await loadCausalLM(hfFolder);
    try {
      const text = 'Once upon a time, there was a little girl named Lily.';
      const ids = viaHub.tokenizer?.encode(text) ?? [];
      expect(ids).toEqual(reference.tokenizer?.encode(text));
      const a = viaHub.forward({ inputIds: [ids] });
      const b = reference.forward({ inputIds: [ids] });
      // same weights through two loaders (llama2.c .bin with its RoPE row permutation vs safetensors): fp32 noise only
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-4);
      tf.dispose([a, b]);
    } finally {
      viaHub.dispose();
      reference.dispose();
    }
  });

  it('finds a SentencePiece model beside a llama2.c .bin and converts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsd-bin-'));
    copyFileSync(bin, join(dir, 'stories260K.bin'));
    copyFileSync(sp, join(dir, 'tok512.model'));
    const cacheDir = mkdtempSync(join(tmpdir(), 'tsd-cache-'));
    const resolved = await resolveModel({ model: join(dir, 'stories260K.bin'), cacheDir });
    expect(resolved.tokenizer?.startsWith(join(cacheDir, 'tokenizers', 'tok512-'))).toBe(true);
    expect(JSON.parse(readFileSync(join(resolved.tokenizer as string, 'tokenizer.json'), 'utf8')).model.merges).toHaveLength(165);
    writeFileSync(join(dir, 'tokenizer.json'), '{}');
    expect((await resolveModel({ model: join(dir, 'stories260K.bin'), cacheDir })).tokenizer).toBe(dir);
  });
});
