import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxError, bfloat16BitsToNumber, float16BitsToNumber, numberToBfloat16Bits, numberToFloat16Bits, parseSafetensors, tensorToFloat32 } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { externalizeInitializers } from './external-data.js';
import { encodeModel, encodeTensor, encodeTensorValueInfo } from './onnx-encode.js';
import { OnnxDataType } from './onnx-model.js';
import { storiesDir, storiesModelBytes } from './onnx-fixtures.test-helper.js';
import { withStoredAs, withTransposedWeights } from './onnx-variants.test-helper.js';
import { readOnnxWeights, readOnnxWeightsFromBytes, type OnnxWeight } from './read-weights.js';
import { concatBytes } from './protobuf-wire.js';

const Q0 = 'model.layers.0.self_attn.q_proj';
const K3 = 'model.layers.3.self_attn.k_proj';

/** HF weights of the same model (safetensors, [out, in]). */
function hfWeights(): Map<string, { shape: number[]; data: Float32Array }> {
  const file = fixturePath('reference', 'hf', 'stories260K', 'model.safetensors');
  const st = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  return new Map([...st.tensors].map(([k, t]) => [k, { shape: [...t.shape], data: tensorToFloat32(t, k) }]));
}

function expectSameWeights(got: Map<string, OnnxWeight>, want: Map<string, { shape: number[]; data: Float32Array }>): void {
  for (const [name, w] of want) {
    const g = got.get(name);
    expect(g, name).toBeDefined();
    expect(g?.shape, name).toEqual(w.shape);
    // Bitwise: the export copied the fp32 weights (export.json: equals_weight_T), and a transpose is exact.
    expect(Buffer.from(g!.data.buffer).equals(Buffer.from(w.data.buffer)), name).toBe(true);
  }
}

describe('readOnnxWeights on the stories260K export', () => {
  const hf = hfWeights();
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-onnx-read-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('returns every HF tensor bitwise, Linear weights transposed back to [out, in], plus lm_head', async () => {
    const got = await readOnnxWeights(storiesDir());
    expect(hf.size).toBe(47);
    expectSameWeights(got, hf);
    // lm_head is the exporter's transposed copy of the tied embedding.
    expect(got.size).toBe(48);
    expect(got.get('lm_head.weight')?.shape).toEqual([512, 64]);
    expect(Buffer.from(got.get('lm_head.weight')!.data.buffer).equals(Buffer.from(hf.get('model.embed_tokens.weight')!.data.buffer))).toBe(true);
    expect(got.get(`${Q0}.weight`)?.transposed).toBe(true);
    expect(got.get('model.norm.weight')?.transposed).toBe(false);
  });

  it('reads a graph where a Transpose node feeds the MatMul the same way', () => {
    const bytes = withTransposedWeights(storiesModelBytes(), [Q0, K3]);
    const got = readOnnxWeightsFromBytes(bytes);
    expectSameWeights(got, hf);
    expect(got.get(`${K3}.weight`)?.transposed).toBe(false);
    expect(got.get(`${K3}.weight`)?.initializer).toBe(`${K3}.weight`);
    expect(got.size).toBe(48);
  });

  it('reads external data (model.onnx + model.onnx_data) from the model folder', async () => {
    const ext = externalizeInitializers(storiesModelBytes());
    expect(ext.moved.length).toBeGreaterThan(30);
    mkdirSync(join(tmp, 'ext', 'onnx'), { recursive: true });
    writeFileSync(join(tmp, 'ext', 'onnx', 'model.onnx'), concatBytes(ext.model));
    writeFileSync(join(tmp, 'ext', 'onnx', 'model.onnx_data'), ext.data);
    expectSameWeights(await readOnnxWeights(join(tmp, 'ext')), hf);
    // Without the data file the error names it.
    rmSync(join(tmp, 'ext', 'onnx', 'model.onnx_data'));
    await expect(readOnnxWeights(join(tmp, 'ext', 'onnx', 'model.onnx'))).rejects.toThrow(/model\.onnx_data/);
  });

  it('converts fp16 weights (raw_data or int32_data) exactly to fp32, and bf16 too', () => {
    const want = hf.get(`${Q0}.weight`)!.data;
    for (const kind of ['fp16', 'fp16-int32'] as const) {
      const got = readOnnxWeightsFromBytes(withStoredAs(storiesModelBytes(), Q0, kind)).get(`${Q0}.weight`)!;
      // Every value is the nearest half of the fp32 weight, decoded exactly.
      const expected = Float32Array.from(want, (v) => float16BitsToNumber(numberToFloat16Bits(v)));
      expect(Buffer.from(got.data.buffer).equals(Buffer.from(expected.buffer)), kind).toBe(true);
    }
    const bf = readOnnxWeightsFromBytes(withStoredAs(storiesModelBytes(), Q0, 'bf16')).get(`${Q0}.weight`)!;
    // The variant rounds fp32 → bf16 with its own ties-to-even code; core decodes it back exactly.
    const bfWant = Float32Array.from(want, (v) => bfloat16BitsToNumber(numberToBfloat16Bits(v)));
    expect(Buffer.from(bf.data.buffer).equals(Buffer.from(bfWant.buffer))).toBe(true);
  });

  it('reads float_data storage like raw_data', () => {
    const got = readOnnxWeightsFromBytes(withStoredAs(storiesModelBytes(), Q0, 'float_data'));
    expectSameWeights(got, hf);
  });

  it('refuses quantized weights with OnnxError naming the tensor', () => {
    const bytes = withStoredAs(storiesModelBytes(), Q0, 'int8');
    expect(() => readOnnxWeightsFromBytes(bytes)).toThrow(OnnxError);
    expect(() => readOnnxWeightsFromBytes(bytes)).toThrow(/quantized.*tensor onnx::MatMul_1479/);
    const nbits = encodeModel({
      name: 'q',
      nodes: [{ name: '/model/layers.0/self_attn/q_proj/MatMul_Q4', opType: 'MatMulNBits', inputs: ['x', 'w_q4', 'scales'], outputs: ['y'] }],
      initializers: [encodeTensor('w_q4', OnnxDataType.UINT8, [64, 2, 16], { raw: new Uint8Array(2048) })],
      inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, [1, 64])],
      outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, [1, 64])],
    });
    expect(() => readOnnxWeightsFromBytes(nbits, { file: 'model_q4.onnx' })).toThrow(/MatMulNBits.*quantized.*file model_q4\.onnx, tensor w_q4/);
  });
});
