/**
 * Finding a module's quantized linear in a transformers.js dtype variant, by
 * following the graph from the module's node:
 * - q8 (`model_quantized.onnx`, onnxruntime `quantize_dynamic`):
 *   `DynamicQuantizeLinear(x)` → `MatMulInteger(x_q, W_q, x_zp, W_zp)` → `Cast` →
 *   `Mul(·, Mul(x_scale, W_scale))`, with W_q [in, out] uint8/int8;
 * - q4 (`model_q4.onnx`, `MatMulNBits`): B [out, blocks, blockSize/2] uint8,
 *   scales [out·blocks] (float or fp16), no zero points (symmetric);
 * - bnb4 (`model_bnb4.onnx`, `MatMulBnb4`): FP4/NF4 codes and per-block absmax.
 */
import { OnnxError } from '@tsd-peft/core';
import { nodeScope, type GraphIndex } from './locate-weight.js';
import { OnnxDataType, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.js';

/** A MatMulInteger module of a q8 variant. */
export interface Int8Linear {
  readonly kind: 'int8';
  readonly module: string;
  readonly node: OnnxNode;
  /** W_q [in, out], uint8 (asymmetric) or int8 (symmetric). */
  readonly weight: OnnxTensor;
  readonly scale: OnnxTensor;
  readonly zeroPoint?: OnnxTensor;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The float activation quantized into the node, and the float result after the scale Mul. */
  readonly input: string;
  readonly output: string;
  readonly outputNode: OnnxNode;
}

/** A MatMulNBits module of a q4 variant. */
export interface NBitsLinear {
  readonly kind: 'nbits';
  readonly module: string;
  readonly node: OnnxNode;
  readonly weight: OnnxTensor;
  readonly scales: OnnxTensor;
  readonly zeroPoints?: OnnxTensor;
  readonly bits: number;
  readonly blockSize: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly input: string;
  readonly output: string;
  readonly outputNode: OnnxNode;
}

/**
 * A MatMulBnb4 module (`model_bnb4.onnx`: bitsandbytes FP4/NF4 codes with
 * per-block absmax). Only the side branch is supported: the codes stay as they are.
 */
export interface Bnb4Linear {
  readonly kind: 'bnb4';
  readonly module: string;
  readonly node: OnnxNode;
  readonly weight: OnnxTensor;
  readonly absmax: OnnxTensor;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly input: string;
  readonly output: string;
  readonly outputNode: OnnxNode;
}

/** A quantized linear module. */
export type QuantizedLinear = Int8Linear | NBitsLinear | Bnb4Linear;

/** Op types of quantized linear nodes this module understands. */
const QUANTIZED_LINEAR_OPS: ReadonlySet<string> = new Set(['MatMulInteger', 'MatMulNBits', 'MatMulBnb4']);

function where(model: OnnxModel, tensor: string): { file?: string; tensor: string } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor };
}

/** Readers of `tensor` in the graph `graph` (main or one subgraph). */
function consumersOf(model: OnnxModel, tensor: string, graph: number): OnnxNode[] {
  return (graph === 0 ? model.nodes : model.subgraphNodes).filter((n) => n.graph === graph && n.inputs.some((i) => i.value === tensor));
}

function intAttr(node: OnnxNode, name: string): number | undefined {
  const v = node.attributes.find((a) => a.name === name)?.i;
  return v === undefined ? undefined : Number(v);
}

/** The MatMulInteger, MatMulNBits or MatMulBnb4 node computing `module`, or undefined when there is none. */
export function quantizedNodeOf(model: OnnxModel, module: string): OnnxNode | undefined {
  return [...model.nodes, ...model.subgraphNodes].find((n) => QUANTIZED_LINEAR_OPS.has(n.opType) && nodeScope(n.name)?.module === module);
}

/**
 * Locates the quantized linear of `module`, or undefined when the module has
 * none. Throws {@link OnnxError} naming the node or tensor when the pattern
 * around it is not one the quantizers write (so it cannot be merged faithfully).
 */
export function locateQuantizedLinear(model: OnnxModel, index: GraphIndex, module: string): QuantizedLinear | undefined {
  const node = quantizedNodeOf(model, module);
  if (node === undefined) return undefined;
  const init = (k: number): OnnxTensor | undefined => model.initializers.get(node.inputs[k]?.value ?? '');
  const fail = (why: string, tensor = node.name): never => {
    throw new OnnxError(`${node.opType} node ${node.name} (module ${module}): ${why}`, where(model, tensor));
  };
  if (node.opType === 'MatMulNBits') {
    const weight = init(1) ?? fail('B is not an initializer', node.inputs[1]?.value);
    const scales = init(2) ?? fail('scales are not an initializer', node.inputs[2]?.value);
    const zeroPoints = init(3);
    if ((node.inputs[3]?.value ?? '') !== '' && zeroPoints === undefined) fail('zero points are not an initializer', node.inputs[3]?.value);
    if (node.inputs.length > 4 && node.inputs.slice(4).some((i) => i.value !== '')) fail('g_idx/bias inputs are not supported');
    const k = intAttr(node, 'K') ?? fail('no K attribute');
    const n = intAttr(node, 'N') ?? fail('no N attribute');
    const bits = intAttr(node, 'bits') ?? 4;
    const blockSize = intAttr(node, 'block_size') ?? fail('no block_size attribute');
    const output = node.outputs[0]?.value ?? fail('no output');
    return {
      kind: 'nbits',
      module,
      node,
      weight,
      scales,
      ...(zeroPoints === undefined ? {} : { zeroPoints }),
      bits,
      blockSize,
      inFeatures: k,
      outFeatures: n,
      input: node.inputs[0]?.value ?? '',
      output,
      outputNode: node,
    };
  }
  if (node.opType === 'MatMulBnb4') {
    const weight = init(1) ?? fail('B is not an initializer', node.inputs[1]?.value);
    const absmax = init(2) ?? fail('absmax is not an initializer', node.inputs[2]?.value);
    const k = intAttr(node, 'K') ?? fail('no K attribute');
    const n = intAttr(node, 'N') ?? fail('no N attribute');
    const output = node.outputs[0]?.value ?? fail('no output');
    return { kind: 'bnb4', module, node, weight, absmax, inFeatures: k, outFeatures: n, input: node.inputs[0]?.value ?? '', output, outputNode: node };
  }
  const weight = init(1) ?? fail('the weight is not an initializer', node.inputs[1]?.value);
  if (weight.dims.length !== 2) fail(`the weight has ${weight.dims.length} dims, expected 2`, weight.name);
  const zeroPoint = init(3);
  const xq = index.producers.get(node.inputs[0]?.value ?? '');
  if (xq?.opType !== 'DynamicQuantizeLinear') fail('its input is not quantized by DynamicQuantizeLinear');
  const input = (xq as OnnxNode).inputs[0]?.value ?? '';
  const cast = consumersOf(model, node.outputs[0]?.value ?? '', node.graph);
  if (cast.length !== 1 || cast[0]?.opType !== 'Cast') fail('its output is not read by one Cast');
  const mul = consumersOf(model, (cast[0] as OnnxNode).outputs[0]?.value ?? '', node.graph);
  if (mul.length !== 1 || mul[0]?.opType !== 'Mul') fail('the Cast is not read by one scale Mul');
  const outputNode = mul[0] as OnnxNode;
  const scaleIn = outputNode.inputs.find((i) => i.value !== (cast[0] as OnnxNode).outputs[0]?.value)?.value ?? '';
  const scaleMul = index.producers.get(scaleIn);
  const scaleName = scaleMul?.opType === 'Mul' ? scaleMul.inputs.map((i) => i.value).find((v) => model.initializers.has(v)) : scaleIn;
  const scale = model.initializers.get(scaleName ?? '') ?? fail('the weight scale is not an initializer');
  const [inF, outF] = weight.dims as [number, number];
  if (scale.numel !== 1 && scale.numel !== outF) fail(`the weight scale has ${scale.numel} values; expected 1 or ${outF} (per column)`, scale.name);
  if (weight.dataType !== OnnxDataType.UINT8 && weight.dataType !== OnnxDataType.INT8) fail('the weight is not uint8/int8', weight.name);
  return {
    kind: 'int8',
    module,
    node,
    weight,
    scale,
    ...(zeroPoint === undefined ? {} : { zeroPoint }),
    inFeatures: inF,
    outFeatures: outF,
    input,
    output: outputNode.outputs[0]?.value ?? '',
    outputNode,
  };
}
