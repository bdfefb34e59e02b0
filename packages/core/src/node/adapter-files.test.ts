import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, SafetensorsError } from '../errors.js';
import { loraFactorsRecord } from '../lora-record.js';
import type { NativeAdapter } from '../native-adapter.js';
import { float32Tensor } from '../safetensors.js';
import { loadNativeAdapter, readPeftAdapterFolder, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, saveNativeAdapter, savePeftAdapter } from './adapter-files.js';
import { fixturePath } from '../testing/fixtures.js';
import { readSafetensorsFile, writeSafetensorsFile } from './safetensors-file.js';

const dir = mkdtempSync(join(tmpdir(), 'tsd-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PEFT adapter folders', () => {
  test.each(['peft-lora', 'peft-rslora'])('%s: load, save to a new folder, and both files are byte-identical', (name) => {
    const src = fixturePath('reference', name);
    const adapter = readPeftAdapterFolder(src);
    expect(adapter.modules.size).toBe(35);
    const out = join(dir, name, 'nested'); // created on demand
    savePeftAdapter(out, adapter);
    expect(readdirSync(out).sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    for (const f of [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join(src, f)))).toBe(true);
    }
    expect(readPeftAdapterFolder(out)).toEqual(adapter);
  });

  test('missing files name the path', () => {
    const empty = join(dir, 'empty');
    expect(() => readPeftAdapterFolder(empty)).toThrow(ConfigError);
    expect(() => readPeftAdapterFolder(empty)).toThrow(/empty\/adapter_config\.json/);
    savePeftAdapter(empty, readPeftAdapterFolder(fixturePath('reference', 'peft-lora')));
    rmSync(join(empty, PEFT_WEIGHTS_FILE));
    expect(() => readPeftAdapterFolder(empty)).toThrow(SafetensorsError);
  });

  test('a corrupt weights file names the file', () => {
    const bad = join(dir, 'bad');
    savePeftAdapter(bad, readPeftAdapterFolder(fixturePath('reference', 'peft-lora')));
    writeFileSync(join(bad, PEFT_WEIGHTS_FILE), new Uint8Array([1, 2, 3]));
    expect(() => readPeftAdapterFolder(bad)).toThrow(/bad\/adapter_model\.safetensors/);
  });
});

describe('safetensors and native files', () => {
  test('writeSafetensorsFile / readSafetensorsFile', () => {
    const path = join(dir, 'w.safetensors');
    writeSafetensorsFile(path, { w: float32Tensor([2], new Float32Array([1.5, -2])) }, { note: 'x' });
    const file = readSafetensorsFile(path);
    expect(file.metadata).toEqual({ note: 'x' });
    expect([...new Float32Array(file.tensors.get('w')!.data.slice().buffer)]).toEqual([1.5, -2]);
    expect(() => readSafetensorsFile(join(dir, 'missing.safetensors'))).toThrow(/could not read file.*missing\.safetensors/);
  });

  test('saveNativeAdapter / loadNativeAdapter', () => {
    const adapter: NativeAdapter = {
      modules: new Map([
        [
          'model.layers.0.self_attn.q_proj',
          {
            method: 'lora',
            ...loraFactorsRecord({
              A: { rows: 1, cols: 2, data: new Float32Array([1, 2]) },
              B: { rows: 2, cols: 1, data: new Float32Array([3, 4]) },
              scaling: 2,
            }),
          },
        ],
      ]),
      extra: { step: 7 },
    };
    const path = join(dir, 'run.tsd.safetensors');
    saveNativeAdapter(path, adapter);
    expect(loadNativeAdapter(path)).toEqual(adapter);
  });
});
