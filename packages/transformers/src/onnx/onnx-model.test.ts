import { readFileSync } from 'node:fs';
import { OnnxError, Rng } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { indexGraph } from './locate-weight.js';
import { encodeModel, encodeTensor, encodeTensorValueInfo } from './onnx-encode.js';
import { OnnxDataType, parseOnnxModel } from './onnx-model.js';
import { storiesModelBytes } from './onnx-fixtures.test-helper.js';

interface ExportJson {
  file: { nodes: number; initializers: number; ir_version: number; inputs: Array<[string]>; outputs: Array<[string]> };
  linear_matmuls: Record<string, { node: string; initializer: string; shape: [number, number]; x_input: string }>;
}

describe('parseOnnxModel on the stories260K export', () => {
  const bytes = storiesModelBytes();
  const model = parseOnnxModel(bytes, 'model.onnx');
  const summary = JSON.parse(readFileSync(fixturePath('reference', 'onnx', 'export.json'), 'utf8')) as ExportJson;

  it('sees the node, initializer and interface counts of export.json', () => {
    expect(model.nodes.length).toBe(summary.file.nodes);
    expect(model.initializers.size).toBe(summary.file.initializers);
    expect(model.irVersion).toBe(summary.file.ir_version);
    expect(model.inputs.map((i) => i.name)).toEqual(summary.file.inputs.map((i) => i[0]));
    expect(model.outputs.map((o) => o.name)).toEqual(summary.file.outputs.map((o) => o[0]));
  });

  it('finds every linear MatMul of export.json with its [in, out] initializer and x input', () => {
    const { byName } = indexGraph(model);
    const entries = Object.entries(summary.linear_matmuls);
    // 35 projections plus lm_head (a transposed copy of the tied embedding).
    expect(entries.length).toBe(36);
    for (const [, e] of entries) {
      const node = byName.get(e.node);
      expect(node?.opType).toBe('MatMul');
      expect(node?.inputs.map((i) => i.value)).toEqual([e.x_input, e.initializer]);
      const t = model.initializers.get(e.initializer);
      expect(t?.dims).toEqual(e.shape);
      expect(t?.dataType).toBe(OnnxDataType.FLOAT);
      expect(t?.rawData?.field.end).toBeGreaterThan(t?.rawData?.field.valueStart ?? Infinity);
    }
  });
});

describe('parseOnnxModel on corrupt input', () => {
  const bytes = storiesModelBytes();

  it('throws OnnxError for empty, truncated and non-ONNX bytes', () => {
    expect(() => parseOnnxModel(new Uint8Array(0), 'x.onnx')).toThrow(OnnxError);
    for (const cut of [1, 100, 5000, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expect(() => parseOnnxModel(bytes.subarray(0, cut), 'cut.onnx')).toThrow(OnnxError);
    }
    expect(() => parseOnnxModel(new TextEncoder().encode('{"not": "onnx"}'), 'a.json')).toThrow(OnnxError);
  });

  it('names the file in the error', () => {
    expect(() => parseOnnxModel(bytes.subarray(0, 999), '/models/cut.onnx')).toThrow(/file \/models\/cut\.onnx/);
  });

  it('throws OnnxError (never hangs, never another error) on a bad varint inside the graph', () => {
    const bad = bytes.slice();
    // The graph field's length varint starts after its tag; make it an endless continuation run.
    const graphLen = parseOnnxModel(bytes).graph.field.lenStart;
    bad.fill(0xff, graphLen, graphLen + 11);
    expect(() => parseOnnxModel(bad)).toThrow(OnnxError);
  });

  it('survives 500 seeded byte mutations of a small model: parses or throws OnnxError', () => {
    const small = encodeModel({
      name: 'g',
      nodes: [{ name: '/a/MatMul', opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], attributes: [{ name: 'perm', ints: [1, 0] }] }],
      initializers: [encodeTensor('w', OnnxDataType.FLOAT, [2, 3], { raw: new Uint8Array(24) })],
      inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, ['b', 2])],
      outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, ['b', 3])],
    });
    expect(parseOnnxModel(small).nodes.length).toBe(1);
    const rng = Rng.fromSeed(20240901);
    let parsed = 0;
    for (let k = 0; k < 500; k++) {
      const m = small.slice();
      const edits = 1 + Math.floor(rng.nextInt(4));
      for (let e = 0; e < edits; e++) m[rng.nextInt(m.length)] = rng.nextInt(256);
      try {
        parseOnnxModel(m);
        parsed++;
      } catch (err) {
        expect(err).toBeInstanceOf(OnnxError);
      }
    }
    // Some mutations only touch payload bytes, so both outcomes must occur.
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThan(500);
  });
});
