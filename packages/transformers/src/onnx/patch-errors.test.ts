import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxError, type LoraFactors } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { exportForTransformersJs } from '../export-transformers-js.js';
import { indexGraph } from './locate-weight.js';
import { encodeModel, encodeTensor, encodeTensorValueInfo } from './onnx-encode.js';
import { OnnxDataType, parseOnnxModel } from './onnx-model.js';
import { maxAbsDiff, ort } from './onnx-fixtures.test-helper.js';
import { optimumPath } from './optimum-fixtures.test-helper.js';
import { patchOnnxModel } from './patch.js';
import { concatBytes } from './protobuf-wire.js';
import { locateQuantizedLinear } from './quantized-linear.js';
import { readTensorBytes } from './tensor-data.js';

const Q0 = 'model.layers.0.self_attn.q_proj';
const factors = (out: number, inF: number): LoraFactors => ({
  A: { rows: 2, cols: inF, data: new Float32Array(2 * inF).fill(0.01) },
  B: { rows: out, cols: 2, data: new Float32Array(out * 2).fill(0.01) },
  scaling: 1,
});

/** One linear node reading its weight through `op` (a tiny graph). */
function linearThrough(op: string, opType = 'MatMul', attributes: Array<{ name: string; i: number }> = []): Uint8Array {
  return encodeModel({
    name: 'g',
    nodes: [
      { name: '/model/layers.0/self_attn/q_proj/Op', opType: op, inputs: ['w'], outputs: ['w2'] },
      { name: `/model/layers.0/self_attn/q_proj/${opType}`, opType, inputs: ['x', 'w2'], outputs: ['y'], attributes },
    ],
    initializers: [encodeTensor('w', OnnxDataType.FLOAT, [4, 4], { raw: new Uint8Array(64) })],
    inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, [1, 4])],
    outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, [1, 4])],
  });
}

describe('bad input gets a typed error naming the file, node or tensor', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-patch-errors-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('an unsupported op feeding a target module', () => {
    expect(() => patchOnnxModel(linearThrough('Sin'), new Map([[Q0, factors(4, 4)]]), { file: 'm.onnx' })).toThrow(OnnxError);
    expect(() => patchOnnxModel(linearThrough('Sin'), new Map([[Q0, factors(4, 4)]]), { file: 'm.onnx' })).toThrow(
      /weight input of \/model\/layers\.0\/self_attn\/q_proj\/MatMul is not an initializer.*unsupported op feeding model\.layers\.0\.self_attn\.q_proj.*file m\.onnx, tensor w2/,
    );
    // Through an Identity it is found (and merged).
    expect(patchOnnxModel(linearThrough('Identity'), new Map([[Q0, factors(4, 4)]])).modules[0]?.node).toBe('/model/layers.0/self_attn/q_proj/MatMul');
  });

  it('a q8 variant whose codes its own scheme would not produce, and nothing is written by the export', async () => {
    // Squeeze q_proj's codes into [10, 200]: the range-based per-tensor scheme would pick another scale.
    const base = join(tmp, 'odd-q8');
    cpSync(fixturePath('reference', 'onnx', 'stories260K'), base, { recursive: true });
    const file = join(base, 'onnx', 'model_quantized.onnx');
    const bytes = new Uint8Array(readFileSync(file));
    const model = parseOnnxModel(bytes, file);
    const q = locateQuantizedLinear(model, indexGraph(model), Q0)!;
    const codes = readTensorBytes(model, q.weight);
    const at = q.weight.rawData!.field.valueStart;
    codes.forEach((c, i) => (bytes[at + i] = Math.min(200, Math.max(10, c))));
    writeFileSync(file, bytes);
    const adapter = readPeftAdapterFolder(fixturePath('reference', 'peft-lora'));
    const out = join(tmp, 'never');
    await expect(exportForTransformersJs({ base, adapter, out, quantized: 'requantize' })).rejects.toThrow(
      /cannot reproduce this variant's quantization \(8-bit asymmetric uint8\).*model_quantized\.onnx, tensor onnx::MatMul_1479_quantized/,
    );
    expect(existsSync(out)).toBe(false);
    // The side branch leaves the quantized weight as it is, so it does not depend on the scheme.
    await exportForTransformersJs({ base, adapter, out });
    expect(existsSync(join(out, 'onnx', 'model_quantized.onnx'))).toBe(true);
  });

  it('a mismatched adapter (Llama modules on GPT-2) names the missing node', async () => {
    await expect(exportForTransformersJs({ base: optimumPath('gpt2', 'onnx'), adapter: optimumPath('llama-gqa-tied', 'adapter'), out: join(tmp, 'x') })).rejects.toThrow(
      /no MatMul node named \/model\/layers\.0\/self_attn\/q_proj\/MatMul \(nor a .*Gemm\).*model\.onnx/,
    );
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('a Gemm that transposes its input (transA = 1) is refused rather than merged wrongly; transB = 0 reads [in, out]', () => {
    const g = encodeModel({
      name: 'g',
      nodes: [{ name: '/model/layers.0/self_attn/q_proj/Gemm', opType: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attributes: [{ name: 'transA', i: 0 }] }],
      initializers: [encodeTensor('w', OnnxDataType.FLOAT, [4, 4], { raw: new Uint8Array(64) })],
      inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, [1, 4])],
      outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, [1, 4])],
    });
    expect(patchOnnxModel(g, new Map([[Q0, factors(4, 4)]])).modules[0]?.layout).toBe('in_out');
    expect(() => patchOnnxModel(linearThrough('Identity', 'Gemm', [{ name: 'transA', i: 1 }]), new Map([[Q0, factors(4, 4)]]))).toThrow(/Gemm node .* transA=1/);
  });
});

describe('bnb4 (MatMulBnb4) variants get the side branch', () => {
  it('adds x·(s·Aᵀ)·Bᵀ beside untouched FP4/NF4 codes, and onnxruntime runs it; requantizing is refused', async () => {
    const [K, N] = [64, 32];
    const g = encodeModel({
      name: 'bnb4',
      nodes: [
        {
          name: '/model/layers.0/self_attn/q_proj/MatMul_Bnb4',
          opType: 'MatMulBnb4',
          domain: 'com.microsoft',
          inputs: ['x', 'B', 'absmax'],
          outputs: ['y'],
          attributes: [
            { name: 'K', i: K },
            { name: 'N', i: N },
            { name: 'block_size', i: 64 },
            { name: 'quant_type', i: 1 },
          ],
        },
      ],
      // absmax 0: every dequantized weight is 0, so y is the branch alone.
      initializers: [
        encodeTensor('B', OnnxDataType.UINT8, [(K * N) / 2], { raw: new Uint8Array((K * N) / 2) }),
        encodeTensor('absmax', OnnxDataType.FLOAT, [(K * N) / 64], { raw: new Uint8Array((K * N) / 16) }),
      ],
      inputs: [encodeTensorValueInfo('x', OnnxDataType.FLOAT, [1, K])],
      outputs: [encodeTensorValueInfo('y', OnnxDataType.FLOAT, [1, N])],
      extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    });
    const f: LoraFactors = {
      A: { rows: 2, cols: K, data: Float32Array.from({ length: 2 * K }, (_, i) => Math.sin(i)) },
      B: { rows: N, cols: 2, data: Float32Array.from({ length: N * 2 }, (_, i) => Math.cos(i)) },
      scaling: 0.5,
    };
    expect(() => patchOnnxModel(g, new Map([[Q0, f]]), { quantized: 'requantize' })).toThrow(/MatMulBnb4 .*FP4\/NF4 .*side branch/);
    const r = patchOnnxModel(g, new Map([[Q0, f]]));
    expect(r.modules[0]?.merge).toBe('side-branch');
    const x = Float32Array.from({ length: K }, (_, i) => (i % 7) / 7 - 0.4);
    const session = await ort.InferenceSession.create(concatBytes(r.chunks));
    const y = (await session.run({ x: new ort.Tensor('float32', x, [1, K]) })).y!.data as Float32Array;
    const want = Array.from({ length: N }, (_, o) => {
      let acc = 0;
      for (let j = 0; j < 2; j++) {
        let ax = 0;
        for (let i = 0; i < K; i++) ax += f.A.data[j * K + i]! * x[i]!;
        acc += f.B.data[o * 2 + j]! * ax;
      }
      return 0.5 * acc;
    });
    expect(maxAbsDiff(y, want)).toBeLessThan(1e-5);
  });
});
