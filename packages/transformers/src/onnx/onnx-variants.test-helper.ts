/**
 * Test-only rewrites of a real export into the other layouts the ONNX code
 * must handle: an explicit Transpose in front of a MatMul, and initializers
 * stored as float_data, fp16 (raw or int32_data) or int8. Built with the same
 * splicing layer, so every other byte stays as exported.
 */
import { encodeFloat16, numberToFloat16Bits } from '@tsd-peft/core';
import { indexGraph, locateModuleWeight } from './locate-weight.js';
import { encodeNode, encodeTensor, type TensorStorage } from './onnx-encode.js';
import { OnnxDataType, parseOnnxModel } from './onnx-model.js';
import { concatBytes, encodeLenField } from './protobuf-wire.js';
import { applyEdits, type ByteEdit } from './splice.js';
import { readTensorFloat32 } from './tensor-data.js';

function graphEnclosing(bytes: Uint8Array): { model: ReturnType<typeof parseOnnxModel>; enc: ByteEdit['enclosing'] } {
  const model = parseOnnxModel(bytes);
  const g = model.graph.field;
  return { model, enc: [{ lenStart: g.lenStart, valueStart: g.valueStart, end: g.end }] };
}

/**
 * Stores each module's weight as W [out, in] (HF layout, named `<module>.weight`)
 * behind a `Transpose(perm=[1,0])` node that writes the MatMul's original weight name.
 */
export function withTransposedWeights(bytes: Uint8Array, modules: readonly string[]): Uint8Array {
  const { model, enc } = graphEnclosing(bytes);
  const index = indexGraph(model);
  const edits: ByteEdit[] = [];
  for (const module of modules) {
    const w = locateModuleWeight(model, index, module);
    const wt = readTensorFloat32(model, w.tensor);
    const [inF, outF] = [w.inFeatures, w.outFeatures];
    const W = new Float32Array(wt.length);
    for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) W[o * inF + i] = wt[i * outF + o] as number;
    const tensor = encodeTensor(`${module}.weight`, OnnxDataType.FLOAT, [outF, inF], { raw: new Uint8Array(W.buffer) });
    edits.push({ start: w.tensor.field.start, end: w.tensor.field.end, bytes: encodeLenField(5, tensor), enclosing: enc });
    const node = encodeNode({
      name: `${w.node.name.slice(0, w.node.name.lastIndexOf('/'))}/Transpose_weight`,
      opType: 'Transpose',
      inputs: [`${module}.weight`],
      outputs: [w.tensor.name],
      attributes: [{ name: 'perm', ints: [1, 0] }],
    });
    edits.push({ start: w.node.field.start, end: w.node.field.start, bytes: encodeLenField(1, node), enclosing: enc });
  }
  return concatBytes(applyEdits(bytes, edits));
}

/** How {@link withStoredAs} re-encodes an initializer. */
export type StorageKind = 'float_data' | 'fp16' | 'fp16-int32' | 'bf16' | 'int8';

/**
 * Re-encodes the weight initializer of `module` with another storage or type
 * (values rounded to nearest-even for fp16/bf16; int8 holds arbitrary codes).
 * fp16/int8 variants are not runnable graphs (the MatMul stays float); they
 * exercise readers and patchers only.
 */
export function withStoredAs(bytes: Uint8Array, module: string, kind: StorageKind): Uint8Array {
  const { model, enc } = graphEnclosing(bytes);
  const w = locateModuleWeight(model, indexGraph(model), module);
  const values = readTensorFloat32(model, w.tensor);
  let dataType: number = OnnxDataType.FLOAT;
  let storage: TensorStorage;
  switch (kind) {
    case 'float_data':
      storage = { floatData: values };
      break;
    case 'fp16':
      dataType = OnnxDataType.FLOAT16;
      storage = { raw: encodeFloat16(values) };
      break;
    case 'fp16-int32':
      dataType = OnnxDataType.FLOAT16;
      storage = { int32Data: Array.from(values, (v) => numberToFloat16Bits(v)) };
      break;
    case 'bf16': {
      dataType = OnnxDataType.BFLOAT16;
      const u32 = new Uint32Array(Float32Array.from(values).buffer);
      const raw = new Uint8Array(values.length * 2);
      const view = new DataView(raw.buffer);
      u32.forEach((x, i) => view.setUint16(i * 2, (x + 0x7fff + ((x >>> 16) & 1)) >>> 16, true));
      storage = { raw };
      break;
    }
    case 'int8':
      dataType = OnnxDataType.INT8;
      storage = { raw: Uint8Array.from(values, (v) => Math.round(v * 100) & 0xff) };
      break;
  }
  const tensor = encodeTensor(w.tensor.name, dataType, w.tensor.dims, storage);
  return concatBytes(applyEdits(bytes, [{ start: w.tensor.field.start, end: w.tensor.field.end, bytes: encodeLenField(5, tensor), enclosing: enc }]));
}
