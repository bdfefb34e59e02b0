import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env } from '@huggingface/transformers';
import * as tf from '@tensorflow/tfjs-core';
import { TsdError } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { Tokenizer } from '../tokenizer.js';
import { hubSource, isHubModelId } from './hub.js';

const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];
const hfDir = (): string => fixturePath('reference', 'hf', 'stories260K');
const tmpRoot = mkdtempSync(join(tmpdir(), 'tsd-hub-'));
const saved = { allowRemoteModels: env.allowRemoteModels, fetch: env.fetch, cacheDir: env.cacheDir };
let fetched: string[] = [];
let reference: CausalLM;

/** A fake hub: serves the fixture folder as repo `tsd-peft-test/remote` and 404s everything else. */
function fakeHub(url: string | URL): Promise<Response> {
  const s = String(url);
  fetched.push(s);
  const m = /^https:\/\/huggingface\.co\/tsd-peft-test\/remote\/resolve\/main\/(.+)$/.exec(s);
  if (m !== null && FILES.includes(m[1]!)) return Promise.resolve(new Response(readFileSync(join(hfDir(), m[1]!)), { status: 200 }));
  return Promise.resolve(new Response('not found', { status: 404 }));
}

beforeAll(async () => {
  await useWasmBackend();
  reference = await loadCausalLM(hfDir(), { tokenizer: false });
});
beforeEach(() => {
  fetched = [];
  // no test here may reach the network: any fetch goes to the fake hub
  env.fetch = fakeHub;
});
afterEach(() => {
  env.allowRemoteModels = saved.allowRemoteModels;
  env.fetch = saved.fetch;
  env.cacheDir = saved.cacheDir;
});
afterAll(() => {
  reference.dispose();
  rmSync(tmpRoot, { recursive: true, force: true });
});

function sameLogits(m: CausalLM): boolean {
  const ids = [[1, 403, 407, 261, 378]];
  const [a, b] = [m.forward({ inputIds: ids }), reference.forward({ inputIds: ids })];
  const same = Buffer.from(a.dataSync().buffer).equals(Buffer.from(b.dataSync().buffer));
  tf.dispose([a, b]);
  return same;
}

describe('hub model ids', () => {
  it('follows transformers.js id rules', () => {
    expect(isHubModelId('karpathy/tinyllamas')).toBe(true);
    expect(isHubModelId('gpt2')).toBe(true);
    expect(isHubModelId('/abs/path')).toBe(false);
    expect(isHubModelId('a/b/c')).toBe(false);
    expect(isHubModelId('a--b/c')).toBe(false);
  });

  it('offline and not cached → TsdError saying how to use a local folder', async () => {
    env.allowRemoteModels = false;
    const cacheDir = mkdtempSync(join(tmpRoot, 'empty-'));
    const err = await loadCausalLM('tsd-peft-test/absent', { cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsdError);
    expect((err as Error).message).toMatch(/not in the local cache and env\.allowRemoteModels is false.*local folder/);
    expect((err as TsdError).file).toBe('hub:tsd-peft-test/absent/config.json@main');
    const err2 = await Tokenizer.fromPretrained('tsd-peft-test/absent', { cacheDir }).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/env\.allowRemoteModels is false/);
    expect(fetched).toEqual([]);
  });

  it('localFilesOnly keeps off the network even when remote models are allowed', async () => {
    const cacheDir = mkdtempSync(join(tmpRoot, 'empty-'));
    await expect(loadCausalLM('tsd-peft-test/remote', { cacheDir, localFilesOnly: true })).rejects.toThrow(/localFilesOnly is set/);
    expect(fetched).toEqual([]);
  });

  it('loads from a transformers.js file cache while offline', async () => {
    env.allowRemoteModels = false;
    const cacheDir = mkdtempSync(join(tmpRoot, 'cache-'));
    const repo = join(cacheDir, 'tsd-peft-test', 'cached');
    mkdirSync(repo, { recursive: true });
    for (const f of FILES) copyFileSync(join(hfDir(), f), join(repo, f));
    const m = await loadCausalLM('tsd-peft-test/cached', { cacheDir });
    expect(m.source).toMatchObject({ kind: 'safetensors', location: 'tsd-peft-test/cached', files: ['hub:tsd-peft-test/cached/model.safetensors@main'] });
    expect(m.tokenizer?.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(sameLogits(m)).toBe(true);
    expect(fetched).toEqual([]);
    m.dispose();
  });

  it('downloads through env.fetch into the cache atomically, then works offline from it', async () => {
    const cacheDir = mkdtempSync(join(tmpRoot, 'dl-'));
    const m = await loadCausalLM('tsd-peft-test/remote', { cacheDir });
    expect(sameLogits(m)).toBe(true);
    m.dispose();
    expect(fetched).toContain('https://huggingface.co/tsd-peft-test/remote/resolve/main/model.safetensors');
    const repo = join(cacheDir, 'tsd-peft-test', 'remote');
    expect(readFileSync(join(repo, 'model.safetensors')).equals(readFileSync(join(hfDir(), 'model.safetensors')))).toBe(true);
    expect(readdirSync(repo).filter((f) => f.includes('.tmp.'))).toEqual([]);

    env.allowRemoteModels = false;
    fetched = [];
    const again = await loadCausalLM('tsd-peft-test/remote', { cacheDir });
    expect(sameLogits(again)).toBe(true);
    expect(fetched).toEqual([]);
    again.dispose();
  });

  it('keys non-main revisions by revision in the cache, as transformers.js does', async () => {
    const cacheDir = mkdtempSync(join(tmpRoot, 'rev-'));
    const dir = join(cacheDir, 'tsd-peft-test', 'cached', 'v1');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(hfDir(), 'config.json'), join(dir, 'config.json'));
    env.allowRemoteModels = false;
    const source = hubSource('tsd-peft-test/cached', { cacheDir, revision: 'v1' });
    expect((await source.read('config.json'))?.byteLength).toBeGreaterThan(0);
    expect(await source.read('model.safetensors')).toBeNull();
    expect(existsSync(join(cacheDir, 'tsd-peft-test', 'cached', 'config.json'))).toBe(false);
  });
});
