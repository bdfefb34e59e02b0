import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { env } from '@huggingface/transformers';
import { ConfigError, HubError, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadPeftAdapter } from './peft-adapter.js';
import { adapterFolderUrl, loadPeftAdapter as loadPeftAdapterInBrowser } from './peft-adapter-browser.js';

const folder = (): string => fixturePath('reference', 'peft-lora');
const tmp = mkdtempSync(join(tmpdir(), 'tsd-peft-load-'));
const saved = { allowRemoteModels: env.allowRemoteModels, fetch: env.fetch, cacheDir: env.cacheDir };
let fetched: string[] = [];

/** A fake hub serving the peft-lora fixture as repo `tsd-peft-test/adapter` (404 for everything else). */
function fakeHub(url: string | URL): Promise<Response> {
  fetched.push(String(url));
  const m = /^https:\/\/huggingface\.co\/tsd-peft-test\/adapter\/resolve\/main\/(.+)$/.exec(String(url));
  if (m !== null && [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE].includes(m[1]!)) return Promise.resolve(new Response(readFileSync(join(folder(), m[1]!))));
  return Promise.resolve(new Response('not found', { status: 404 }));
}

afterEach(() => {
  env.allowRemoteModels = saved.allowRemoteModels;
  env.fetch = saved.fetch;
  env.cacheDir = saved.cacheDir;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadPeftAdapter (async; folder, file: URL, hub id, Blobs)', () => {
  it('reads a folder, a file: URL and Blobs as the sync folder reader does', async () => {
    const expected = readPeftAdapterFolder(folder());
    expect((await loadPeftAdapter(folder())).modules).toEqual(expected.modules);
    expect((await loadPeftAdapter(pathToFileURL(folder()))).modules).toEqual(expected.modules);
    const blobs = { [PEFT_CONFIG_FILE]: new Blob([readFileSync(join(folder(), PEFT_CONFIG_FILE))]), [PEFT_WEIGHTS_FILE]: new Blob([readFileSync(join(folder(), PEFT_WEIGHTS_FILE))]) };
    expect((await loadPeftAdapter(blobs)).modules).toEqual(expected.modules);
  });

  it("fetches a hub repo id into transformers.js's cache, then reads it offline", async () => {
    env.fetch = fakeHub;
    env.cacheDir = join(tmp, 'cache');
    fetched = [];
    const expected = readPeftAdapterFolder(folder());
    expect((await loadPeftAdapter('tsd-peft-test/adapter')).modules).toEqual(expected.modules);
    expect(fetched).toHaveLength(2);
    env.allowRemoteModels = false;
    expect((await loadPeftAdapter('tsd-peft-test/adapter')).modules).toEqual(expected.modules);
    expect(fetched).toHaveLength(2);
    await expect(loadPeftAdapter('tsd-peft-test/other')).rejects.toThrow(HubError);
    env.allowRemoteModels = true;
    await expect(loadPeftAdapter('tsd-peft-test/other')).rejects.toThrow(
      /no local folder tsd-peft-test\/other, and the hub repo has no adapter_config\.json.*hub:tsd-peft-test\/other\/adapter_config\.json@main/,
    );
  });

  it('names what it could not make sense of', async () => {
    await expect(loadPeftAdapter('./no/such/folder')).rejects.toThrow(ConfigError);
    await expect(loadPeftAdapter('./no/such/folder')).rejects.toThrow(/no adapter folder at \.\/no\/such\/folder/);
  });
});

describe('loadPeftAdapter of the browser entry', () => {
  it('maps strings to folder URLs: absolute, page-relative, hub id', () => {
    expect(adapterFolderUrl('https://x.test/a/')).toBe('https://x.test/a/');
    expect(adapterFolderUrl('./runs/a/', { baseUrl: 'http://127.0.0.1:8080/app/index.html' })).toBe('http://127.0.0.1:8080/app/runs/a/');
    expect(adapterFolderUrl('owner/pirate', { revision: 'v1', subfolder: 'step-10' })).toBe('https://huggingface.co/owner/pirate/resolve/v1/step-10/');
    expect(() => adapterFolderUrl('./a/')).toThrow(/pass baseUrl/);
    expect(() => adapterFolderUrl('not an id!')).toThrow(ConfigError);
  });

  it('loads a hub id through fetch', async () => {
    fetched = [];
    const adapter = await loadPeftAdapterInBrowser('tsd-peft-test/adapter', { fetch: (url) => fakeHub(url) });
    expect(adapter.modules).toEqual(readPeftAdapterFolder(folder()).modules);
    expect(fetched).toEqual([`https://huggingface.co/tsd-peft-test/adapter/resolve/main/${PEFT_CONFIG_FILE}`, `https://huggingface.co/tsd-peft-test/adapter/resolve/main/${PEFT_WEIGHTS_FILE}`]);
  });
});
