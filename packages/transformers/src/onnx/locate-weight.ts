/**
 * Finding the weight initializer of a Hugging Face Linear module in an ONNX
 * graph: the module's MatMul node (named by core's `onnxMatMulNodeName`), its
 * second input, and — when the exporter did not fold it — a Transpose in front.
 */
import { OnnxError, onnxMatMulNodeName } from '@tsd-peft/core';
import type { OnnxModel, OnnxNode, OnnxTensor } from './onnx-model.js';

/**
 * How a module's weight is stored: `'in_out'` = the initializer is Wᵀ
 * ([in, out], fed straight into MatMul, what torch.onnx writes after constant
 * folding); `'out_in'` = the initializer is W ([out, in]) behind a Transpose.
 */
export type WeightLayout = 'in_out' | 'out_in';

/** A module's weight as found in the graph. */
export interface LocatedWeight {
  readonly module: string;
  readonly node: OnnxNode;
  readonly tensor: OnnxTensor;
  readonly layout: WeightLayout;
  /** The Transpose node between the initializer and the MatMul, for `'out_in'`. */
  readonly transpose?: OnnxNode;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** Node types that carry quantized weights; finding one where a MatMul should be means the export is quantized. */
export const QUANTIZED_OPS: ReadonlySet<string> = new Set([
  'MatMulNBits',
  'MatMulInteger',
  'QLinearMatMul',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QuantizeLinear',
  'GatherBlockQuantized',
]);

/** Lookup tables over one model, built once and shared by many {@link locateModuleWeight} calls. */
export interface GraphIndex {
  readonly byName: ReadonlyMap<string, OnnxNode>;
  readonly producers: ReadonlyMap<string, OnnxNode>;
  /** tensor name → number of node inputs that read it (graph outputs count too). */
  readonly consumers: ReadonlyMap<string, number>;
}

/** Builds the {@link GraphIndex} of a model. */
export function indexGraph(model: OnnxModel): GraphIndex {
  const byName = new Map<string, OnnxNode>();
  const producers = new Map<string, OnnxNode>();
  const consumers = new Map<string, number>();
  for (const n of model.nodes) {
    if (n.name !== '' && !byName.has(n.name)) byName.set(n.name, n);
    for (const o of n.outputs) if (o.value !== '') producers.set(o.value, n);
    for (const i of n.inputs) if (i.value !== '') consumers.set(i.value, (consumers.get(i.value) ?? 0) + 1);
  }
  for (const o of model.outputs) consumers.set(o.name, (consumers.get(o.name) ?? 0) + 1);
  return { byName, producers, consumers };
}

function where(model: OnnxModel, tensor: string, shape?: readonly number[]): { file?: string; tensor: string; shape?: readonly number[] } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor, ...(shape === undefined ? {} : { shape }) };
}

function isIdentityTranspose2d(node: OnnxNode): boolean {
  const perm = node.attributes.find((a) => a.name === 'perm');
  if (perm === undefined) return true; // default perm reverses the dims: a 2-D transpose
  return perm.ints.length === 2 && perm.ints[0] === 1n && perm.ints[1] === 0n;
}

/**
 * The weight of a MatMul node: an initializer, or a Transpose(perm=[1,0]) of
 * one. Returns undefined when the second input is an activation (e.g. QKᵀ);
 * throws {@link OnnxError} when it comes from a quantization op.
 */
export function weightOfMatMul(model: OnnxModel, index: GraphIndex, node: OnnxNode, module: string): LocatedWeight | undefined {
  const wName = node.inputs[1]?.value;
  if (wName === undefined || wName === '') return undefined;
  const direct = model.initializers.get(wName);
  if (direct !== undefined) {
    if (direct.dims.length !== 2) return undefined;
    const [inF, outF] = direct.dims as [number, number];
    return { module, node, tensor: direct, layout: 'in_out', inFeatures: inF, outFeatures: outF };
  }
  const producer = index.producers.get(wName);
  if (producer === undefined) return undefined;
  if (QUANTIZED_OPS.has(producer.opType)) {
    throw new OnnxError(`weight of ${node.name} comes from ${producer.opType}: the model is quantized; use an fp32 or fp16 export`, where(model, wName));
  }
  if (producer.opType === 'Transpose' && isIdentityTranspose2d(producer)) {
    const src = producer.inputs[0]?.value ?? '';
    const t = model.initializers.get(src);
    if (t !== undefined && t.dims.length === 2) {
      const [outF, inF] = t.dims as [number, number];
      return { module, node, tensor: t, layout: 'out_in', transpose: producer, inFeatures: inF, outFeatures: outF };
    }
    const p2 = index.producers.get(src);
    if (p2 !== undefined && QUANTIZED_OPS.has(p2.opType)) {
      throw new OnnxError(`weight of ${node.name} comes from ${p2.opType}: the model is quantized; use an fp32 or fp16 export`, where(model, src));
    }
  }
  return undefined;
}

/**
 * Locates the weight of `module` (an HF module path such as
 * `model.layers.0.self_attn.q_proj`) for patching. Throws {@link OnnxError}
 * naming the node or tensor when the node is missing, quantized, not a
 * MatMul on a 2-D float initializer, or when the initializer is also read by
 * other nodes (patching it would change them too).
 */
export function locateModuleWeight(model: OnnxModel, index: GraphIndex, module: string): LocatedWeight {
  const nodeName = onnxMatMulNodeName(module);
  const node = index.byName.get(nodeName);
  if (node === undefined) {
    const prefix = nodeName.slice(0, nodeName.length - 'MatMul'.length);
    const quantized = model.nodes.find((n) => n.name.startsWith(prefix) && QUANTIZED_OPS.has(n.opType));
    if (quantized !== undefined) {
      throw new OnnxError(`module ${module} is computed by ${quantized.opType} node ${quantized.name}: the model is quantized; use an fp32 or fp16 export`, where(model, quantized.inputs[1]?.value ?? quantized.name));
    }
    throw new OnnxError(`no MatMul node named ${nodeName} for module ${module}`, where(model, nodeName));
  }
  if (node.opType !== 'MatMul' || (node.domain !== '' && node.domain !== 'ai.onnx')) {
    throw new OnnxError(`node ${nodeName} is ${node.domain === '' ? '' : `${node.domain}.`}${node.opType}, expected MatMul`, where(model, nodeName));
  }
  const w = weightOfMatMul(model, index, node, module);
  if (w === undefined) {
    throw new OnnxError(`the second input of ${nodeName} is not an initializer (nor a Transpose of one)`, where(model, node.inputs[1]?.value ?? nodeName));
  }
  const readers = index.consumers.get(w.tensor.name) ?? 0;
  const viaTranspose = w.transpose === undefined ? 0 : (index.consumers.get(w.transpose.outputs[0]?.value ?? '') ?? 0);
  if (readers > 1 || viaTranspose > 1) {
    throw new OnnxError(`initializer is shared by ${Math.max(readers, viaTranspose)} nodes; patching it for ${module} would change the others too`, where(model, w.tensor.name, w.tensor.dims));
  }
  return w;
}
