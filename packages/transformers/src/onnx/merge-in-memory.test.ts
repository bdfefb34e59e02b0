import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxError } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { exportForTransformersJs } from '../export-transformers-js.js';
import { externalizeInitializers } from './external-data.js';
import { mergeAdapterIntoOnnx } from './merge-in-memory.js';
import { concatBytes } from './protobuf-wire.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-merge-memory-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const base = (): string => fixturePath('reference', 'onnx', 'stories260K');

describe('mergeAdapterIntoOnnx (the export of one file, in memory)', () => {
  it('gives the bytes the folder export writes, for fp32 and the q4 side branch', async () => {
    const adapter = readPeftAdapterFolder(fixturePath('reference', 'peft-lora'));
    const out = join(tmp, 'folder');
    await exportForTransformersJs({ base: base(), adapter, out, modelFiles: ['model.onnx', 'model_q4.onnx'] });
    for (const name of ['model.onnx', 'model_q4.onnx']) {
      const merged = mergeAdapterIntoOnnx(new Uint8Array(readFileSync(join(base(), 'onnx', name))), adapter, { file: name });
      expect(Buffer.from(merged.model).equals(readFileSync(join(out, 'onnx', name))), name).toBe(true);
      expect(merged.modules).toHaveLength(adapter.modules.size);
      expect(merged.external).toEqual({});
    }
  });

  it('patches a copy of the external data, leaves the input alone, and names a data file it was not given', () => {
    const adapter = readPeftAdapterFolder(fixturePath('reference', 'peft-lora'));
    const inline = mergeAdapterIntoOnnx(new Uint8Array(readFileSync(join(base(), 'onnx', 'model.onnx'))), adapter);
    const ext = externalizeInitializers(new Uint8Array(readFileSync(join(base(), 'onnx', 'model.onnx'))));
    const graph = concatBytes(ext.model);
    const data = ext.data.slice();
    const merged = mergeAdapterIntoOnnx(graph, adapter, { external: { 'model.onnx_data': ext.data } });
    expect(Buffer.from(merged.model).equals(Buffer.from(graph))).toBe(true); // only the data changes
    expect(Buffer.from(ext.data).equals(Buffer.from(data))).toBe(true); // the given bytes are not modified
    const patched = merged.external['model.onnx_data'];
    expect(patched).toBeDefined();
    expect(Buffer.from(patched!).equals(Buffer.from(data))).toBe(false);
    // The same weights as the inline merge: externalizing the inline result gives the patched data.
    expect(Buffer.from(externalizeInitializers(inline.model).data).equals(Buffer.from(patched!))).toBe(true);
    expect(() => mergeAdapterIntoOnnx(graph, adapter, { file: 'onnx/model.onnx' })).toThrow(OnnxError);
    expect(() => mergeAdapterIntoOnnx(graph, adapter, { file: 'onnx/model.onnx' })).toThrow(/external data file "model\.onnx_data" was not given/);
  });
});
