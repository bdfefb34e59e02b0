import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, HubError, SafetensorsError } from './errors.js';
import { parsePeftAdapter } from './peft-adapter.js';
import { peftAdapterBlobs, readPeftAdapter, savePeftAdapterToDirectory, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, type AdapterDirectoryHandle, type AdapterFileHandle } from './peft-adapter-files.js';
import { fixturePath } from './testing/fixtures.js';

const folder = (): string => fixturePath('reference', 'peft-lora');
const fileBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(join(folder(), name)));
const reference = () => parsePeftAdapter(readFileSync(join(folder(), PEFT_CONFIG_FILE), 'utf8'), fileBytes(PEFT_WEIGHTS_FILE), folder());

/** An in-memory FileSystemDirectoryHandle: a writable stream replaces the file only on close(), as OPFS does. */
function memoryDirectory(name: string): AdapterDirectoryHandle & { files: Map<string, Blob> } {
  const files = new Map<string, Blob>();
  const handle = (file: string): AdapterFileHandle => ({
    getFile: async () => {
      const blob = files.get(file);
      if (blob === undefined) throw new Error(`NotFoundError: ${file}`);
      return blob;
    },
    createWritable: async () => {
      const parts: Blob[] = [];
      return { write: async (data: Blob) => void parts.push(data), close: async () => void files.set(file, new Blob(parts)) };
    },
  });
  return {
    name,
    files,
    getFileHandle: async (file, options) => {
      if (!files.has(file) && options?.create !== true) throw new Error(`NotFoundError: ${file}`);
      return handle(file);
    },
  };
}

describe('PEFT adapter files without a file system', () => {
  test('Blobs, bytes, text and a FileList read as the folder does', async () => {
    const expected = reference();
    const fromBlobs = await readPeftAdapter({
      [PEFT_CONFIG_FILE]: new Blob([fileBytes(PEFT_CONFIG_FILE) as BlobPart]),
      [PEFT_WEIGHTS_FILE]: new Blob([fileBytes(PEFT_WEIGHTS_FILE) as BlobPart]),
    });
    expect(fromBlobs.config).toEqual(expected.config);
    expect(fromBlobs.modules).toEqual(expected.modules);
    const fromText = await readPeftAdapter({ [PEFT_CONFIG_FILE]: readFileSync(join(folder(), PEFT_CONFIG_FILE), 'utf8'), [PEFT_WEIGHTS_FILE]: fileBytes(PEFT_WEIGHTS_FILE).slice().buffer });
    expect(fromText.modules).toEqual(expected.modules);
    // an <input type=file multiple> selection, with an unrelated file beside the two
    const list = [new File(['x'], 'README.md'), new File([fileBytes(PEFT_WEIGHTS_FILE) as BlobPart], PEFT_WEIGHTS_FILE), new File([fileBytes(PEFT_CONFIG_FILE) as BlobPart], PEFT_CONFIG_FILE)];
    expect((await readPeftAdapter(list)).modules).toEqual(expected.modules);
  });

  test('peftAdapterBlobs round-trips byte for byte, and a directory handle holds the same files', async () => {
    const adapter = reference();
    const blobs = peftAdapterBlobs(adapter);
    for (const name of [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE] as const) {
      expect(Buffer.from(await blobs[name].arrayBuffer()).equals(Buffer.from(fileBytes(name))), name).toBe(true);
    }
    const dir = memoryDirectory('opfs-adapter');
    await savePeftAdapterToDirectory(dir, adapter);
    expect([...dir.files.keys()]).toEqual([PEFT_WEIGHTS_FILE, PEFT_CONFIG_FILE]); // weights first, then the config
    expect((await readPeftAdapter(dir)).modules).toEqual(adapter.modules);
  });

  test('a folder URL is fetched file by file', async () => {
    const asked: string[] = [];
    const fetch = async (url: string) => {
      asked.push(url);
      const name = url.slice('https://example.test/runs/a/'.length);
      return name === PEFT_CONFIG_FILE || name === PEFT_WEIGHTS_FILE ? new Response(fileBytes(name) as BodyInit) : new Response('', { status: 404 });
    };
    const adapter = await readPeftAdapter('https://example.test/runs/a', { fetch });
    expect(asked).toEqual([`https://example.test/runs/a/${PEFT_CONFIG_FILE}`, `https://example.test/runs/a/${PEFT_WEIGHTS_FILE}`]);
    expect(adapter.modules).toEqual(reference().modules);
    const missing = readPeftAdapter(new URL('https://example.test/none/'), { fetch });
    await expect(missing).rejects.toThrow(HubError);
    await expect(readPeftAdapter(new URL('https://example.test/none/'), { fetch })).rejects.toThrow(/GET answered 404 \(file https:\/\/example\.test\/none\/adapter_config\.json\)/);
  });

  test('bad input is a typed error naming the file', async () => {
    await expect(readPeftAdapter('runs/adapter')).rejects.toThrow(ConfigError);
    await expect(readPeftAdapter([new File(['{}'], PEFT_CONFIG_FILE)])).rejects.toThrow(/lack adapter_model\.safetensors/);
    await expect(readPeftAdapter(memoryDirectory('empty'))).rejects.toThrow(/file empty\/adapter_config\.json/);
    const corrupt = readPeftAdapter({ [PEFT_CONFIG_FILE]: fileBytes(PEFT_CONFIG_FILE), [PEFT_WEIGHTS_FILE]: new Uint8Array([1, 2, 3]) }, { label: 'upload' });
    await expect(corrupt).rejects.toThrow(SafetensorsError);
    await expect(readPeftAdapter({ [PEFT_CONFIG_FILE]: '{"r": "eight"}', [PEFT_WEIGHTS_FILE]: fileBytes(PEFT_WEIGHTS_FILE) }, { label: 'upload' })).rejects.toThrow(/upload\/adapter_config\.json/);
  });
});
