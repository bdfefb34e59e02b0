/**
 * The "ONNX folder" weight source: fp32 weights of a transformers.js ONNX
 * export, named and laid out as in the Hugging Face checkpoint.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OnnxError } from '@tsd-peft/core';
import { indexGraph, nodeScope, QUANTIZED_OPS, traceInitializer, weightOfLinear, type GraphIndex, type LocatedWeight, type TracedInitializer } from './locate-weight.js';
import { fileExternalDataReader } from './node-io.js';
import { OnnxDataType, parseOnnxModel, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.js';
import { dequantizeAffine8, dequantizeBlockwise4 } from './quantize.js';
import { locateQuantizedLinear, type QuantizedLinear } from './quantized-linear.js';
import { assertFloatTensor, isFloatType, readTensorBytes, readTensorFloat32, type ExternalDataReader } from './tensor-data.js';

/** One weight read from an ONNX model: HF shape (Linear weights [out, in]) and float32 values. */
export interface OnnxWeight {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  /** The initializer it came from. */
  readonly initializer: string;
  /** True when the stored initializer was Wᵀ and was transposed back to [out, in]. */
  readonly transposed: boolean;
}

/** Initializer names that are Hugging Face parameter names (e.g. `model.norm.weight`). */
const HF_PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\.(weight|bias)$/;

/** Non-linear nodes whose initializer inputs are module parameters: input index → parameter. */
const PARAM_INPUTS: Readonly<Record<string, ReadonlyArray<readonly [number, 'weight' | 'bias']>>> = {
  Gather: [[0, 'weight']], // embeddings (wte, wpe, embed_tokens)
  LayerNormalization: [
    [1, 'weight'],
    [2, 'bias'],
  ],
  SimplifiedLayerNormalization: [[1, 'weight']],
};

/**
 * Reads the float weights of a parsed model, keyed by HF parameter name, by
 * following the graph from its nodes (initializer names are never trusted,
 * since exporters rename and share them):
 * - each linear node `/<module>/MatMul` or `/<module>/Gemm` gives
 *   `<module>.weight` as [out, in], its weight traced back through
 *   Transpose/Cast/Reshape/… (`traceInitializer`); a Gemm's third input gives
 *   `<module>.bias`; an `Add` in the same scope with a 1-D initializer gives
 *   `<module>.bias` (Optimum's Qwen2 q/k/v biases). A tied head reading
 *   `Transpose(embed_tokens)` yields `lm_head.weight` from that initializer;
 * - `Gather` (embeddings), `LayerNormalization` and RMSNorm's `Mul` by a 1-D
 *   initializer give `<module>.weight` (and `.bias`);
 * - initializers named like HF parameters and not yet read (norms in
 *   torch.onnx exports) are returned as stored.
 * fp16/bf16 values are converted to float32 exactly. Quantized weights (int8/uint8/
 * 4-bit initializers, MatMulNBits/MatMulInteger/DequantizeLinear) throw
 * {@link OnnxError} naming the tensor.
 */
export function readOnnxWeightsFromModel(model: OnnxModel, external?: ExternalDataReader, options: ReadOnnxWeightsOptions = {}): Map<string, OnnxWeight> {
  const index = indexGraph(model);
  const out = new Map<string, OnnxWeight>();
  const put = (name: string, w: () => OnnxWeight): void => {
    if (!out.has(name)) out.set(name, w());
  };
  const quantizedModules = new Set<string>();
  for (const node of [...model.nodes, ...model.subgraphNodes]) {
    if (options.dequantize === true && DEQUANTIZABLE.has(node.opType)) {
      const module = nodeScope(node.name)?.module;
      if (node.opType === 'DynamicQuantizeLinear' || node.opType === 'DequantizeLinear' || module === undefined) continue; // activations; weights are read at their reader
      const q = locateQuantizedLinear(model, index, module);
      if (q !== undefined && q.node === node) {
        put(`${module}.weight`, () => dequantizedWeight(model, q, external));
        quantizedModules.add(module);
      }
      continue;
    }
    if (QUANTIZED_OPS.has(node.opType)) {
      // Weights behind quantization ops are int8/4-bit codes plus scales: not readable as fp32 weights.
      const tensor = node.inputs.find((i) => model.initializers.has(i.value))?.value ?? node.name;
      throw new OnnxError(`node ${node.name} is ${node.opType}: the model is quantized; read an fp32 or fp16 file`, {
        ...(model.file === undefined ? {} : { file: model.file }),
        tensor,
      });
    }
    const scope = nodeScope(node.name);
    if (scope === undefined) continue;
    const { module } = scope;
    if (index.linears.get(module) === node) {
      const viaDequantize = options.dequantize === true ? dequantizeLinearWeight(model, index, node, external) : undefined;
      if (viaDequantize !== undefined) {
        put(`${module}.weight`, () => viaDequantize);
        continue;
      }
      const w = weightOfLinear(model, index, node, module);
      if (w === undefined) continue; // an activation × activation MatMul (attention scores)
      put(`${module}.weight`, () => toHfLayout(model, w, external));
      if (node.opType === 'Gemm') putVector(model, index, node, 2, w.outFeatures, `${module}.bias`, put, external);
      continue;
    }
    if (node.opType === 'Add' && (index.linears.has(module) || quantizedModules.has(module))) {
      for (let k = 0; k < 2; k++) putVector(model, index, node, k, undefined, `${module}.bias`, put, external);
      continue;
    }
    if (node.opType === 'Mul' && !index.linears.has(module) && !quantizedModules.has(module)) {
      // RMSNorm's scale: weight · normalized (two 1-D candidates never occur; the first wins).
      for (let k = 0; k < 2; k++) putVector(model, index, node, k, undefined, `${module}.weight`, put, external);
      continue;
    }
    if (options.dequantize === true && node.opType === 'Gather') {
      const embedding = dequantizedGather(model, node, external);
      if (embedding !== undefined) {
        put(`${module}.weight`, () => embedding);
        continue;
      }
    }
    for (const [k, param] of PARAM_INPUTS[node.opType] ?? []) {
      const traced = traceInput(model, index, node, k);
      if (traced === undefined || traced.tensor.dims.length === 0) continue;
      put(`${module}.${param}`, () => ({ shape: [...traced.tensor.dims], data: readTensorFloat32(model, traced.tensor, external), initializer: traced.tensor.name, transposed: false }));
    }
  }
  for (const [name, t] of model.initializers) {
    if (!HF_PARAM_NAME.test(name) || out.has(name)) continue;
    assertFloatTensor(model, t);
    out.set(name, { shape: [...t.dims], data: readTensorFloat32(model, t, external), initializer: name, transposed: false });
  }
  return out;
}

/** Options of {@link readOnnxWeightsFromModel}. */
export interface ReadOnnxWeightsOptions {
  /**
   * Read quantized weights (MatMulInteger / MatMulNBits codes, a MatMul weight behind
   * DequantizeLinear) as their dequantized float values instead of refusing them, so a q8 or
   * q4 variant can serve as a (QLoRA-style) frozen base. Default false: quantized files throw.
   */
  readonly dequantize?: boolean;
}

/** Quantization ops whose weights {@link ReadOnnxWeightsOptions.dequantize} reads (or, for activations, skips). */
const DEQUANTIZABLE: ReadonlySet<string> = new Set(['MatMulInteger', 'MatMulNBits', 'DynamicQuantizeLinear', 'DequantizeLinear']);

function dequantizedWeight(model: OnnxModel, q: QuantizedLinear, external?: ExternalDataReader): OnnxWeight {
  const { inFeatures: inF, outFeatures: outF } = q;
  if (q.kind === 'nbits') {
    if (q.bits !== 4) throw new OnnxError(`MatMulNBits with bits=${q.bits} cannot be read`, { tensor: q.weight.name });
    const zp = q.zeroPoints === undefined ? undefined : readTensorBytes(model, q.zeroPoints, external);
    const data = dequantizeBlockwise4(readTensorBytes(model, q.weight, external), readTensorFloat32(model, q.scales, external), outF, inF, q.blockSize, zp);
    return { shape: [outF, inF], data, initializer: q.weight.name, transposed: false };
  }
  if (q.kind === 'bnb4') throw new OnnxError(`MatMulBnb4 node ${q.node.name}: FP4/NF4 weights cannot be read; use another variant`, { tensor: q.weight.name });
  const scales = readTensorFloat32(model, q.scale, external);
  const zps = q.zeroPoint === undefined ? new Uint8Array(scales.length) : readTensorBytes(model, q.zeroPoint, external);
  const wt = dequantizeAffine8(readTensorBytes(model, q.weight, external), scales, zps, outF, q.weight.dataType === OnnxDataType.INT8);
  return transposeToHf(wt, inF, outF, q.weight.name);
}

/** A MatMul weight computed by DequantizeLinear(codes [in, out], scale, zero point) from initializers, dequantized; else undefined. */
function dequantizeLinearWeight(model: OnnxModel, index: GraphIndex, node: OnnxNode, external?: ExternalDataReader): OnnxWeight | undefined {
  const producer = index.producers.get(node.inputs[1]?.value ?? '');
  if (producer?.opType !== 'DequantizeLinear' || node.opType !== 'MatMul') return undefined;
  const init = (k: number): OnnxTensor | undefined => model.initializers.get(producer.inputs[k]?.value ?? '');
  const codes = init(0);
  const scale = init(1);
  if (codes === undefined || scale === undefined || codes.dims.length !== 2) return undefined;
  const [inF, outF] = codes.dims as [number, number];
  const axis = Number(producer.attributes.find((a) => a.name === 'axis')?.i ?? 1n);
  if (scale.numel !== 1 && (scale.numel !== outF || (axis !== 1 && axis !== -1))) {
    throw new OnnxError(`DequantizeLinear ${producer.name}: only per-tensor or per-column (axis 1) scales are read`, { tensor: scale.name });
  }
  const zpT = init(2);
  const zps = zpT === undefined ? new Uint8Array(scale.numel) : readTensorBytes(model, zpT, external);
  const wt = dequantizeAffine8(readTensorBytes(model, codes, external), readTensorFloat32(model, scale, external), zps, outF, codes.dataType === OnnxDataType.INT8);
  return transposeToHf(wt, inF, outF, codes.name);
}

/** An embedding quantized by `quantize_dynamic`: Gather(uint8/int8 table, ids) → DequantizeLinear(·, scale, zero point), per tensor. */
function dequantizedGather(model: OnnxModel, node: OnnxNode, external?: ExternalDataReader): OnnxWeight | undefined {
  const table = model.initializers.get(node.inputs[0]?.value ?? '');
  if (table === undefined || (table.dataType !== OnnxDataType.UINT8 && table.dataType !== OnnxDataType.INT8)) return undefined;
  const out = node.outputs[0]?.value ?? '';
  const dq = (node.graph === 0 ? model.nodes : model.subgraphNodes).find((n) => n.graph === node.graph && n.opType === 'DequantizeLinear' && n.inputs[0]?.value === out);
  const scale = model.initializers.get(dq?.inputs[1]?.value ?? '');
  if (dq === undefined || scale === undefined || scale.numel !== 1) {
    throw new OnnxError(`Gather ${node.name} reads a quantized table without a per-tensor DequantizeLinear after it`, { tensor: table.name });
  }
  const zpT = model.initializers.get(dq.inputs[2]?.value ?? '');
  const zps = zpT === undefined ? new Uint8Array(1) : readTensorBytes(model, zpT, external);
  const data = dequantizeAffine8(readTensorBytes(model, table, external), readTensorFloat32(model, scale, external), zps, table.dims[1] ?? 1, table.dataType === OnnxDataType.INT8);
  return { shape: [...table.dims], data, initializer: table.name, transposed: false };
}

/** [in, out] → HF [out, in]. */
function transposeToHf(values: Float32Array, inF: number, outF: number, initializer: string): OnnxWeight {
  const data = new Float32Array(values.length);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) data[o * inF + i] = values[i * outF + o] as number;
  return { shape: [outF, inF], data, initializer, transposed: true };
}

function traceInput(model: OnnxModel, index: GraphIndex, node: OnnxNode, k: number): TracedInitializer | undefined {
  const name = node.inputs[k]?.value;
  if (name === undefined || name === '') return undefined;
  const traced = traceInitializer(model, index, name, node.name);
  if (traced === undefined || !isFloatType(traced.tensor.dataType)) return undefined;
  return traced;
}

/** Reads input `k` of `node` as a 1-D parameter (length `size` when given) named `name`. */
function putVector(
  model: OnnxModel,
  index: GraphIndex,
  node: OnnxNode,
  k: number,
  size: number | undefined,
  name: string,
  put: (name: string, w: () => OnnxWeight) => void,
  external?: ExternalDataReader,
): void {
  const traced = traceInput(model, index, node, k);
  if (traced === undefined || traced.dims.length !== 1 || (traced.dims[0] as number) < 2) return;
  if (size !== undefined && traced.dims[0] !== size) return;
  put(name, () => ({ shape: [...traced.dims], data: readTensorFloat32(model, traced.tensor, external), initializer: traced.tensor.name, transposed: false }));
}

function toHfLayout(model: OnnxModel, w: LocatedWeight, external?: ExternalDataReader): OnnxWeight {
  const values = readTensorFloat32(model, w.tensor, external);
  const { inFeatures: inF, outFeatures: outF } = w;
  if (w.layout === 'out_in') return { shape: [outF, inF], data: values, initializer: w.tensor.name, transposed: false };
  return transposeToHf(values, inF, outF, w.tensor.name);
}

/** {@link readOnnxWeightsFromModel} on serialized model bytes (no external data unless `external` is given). */
export function readOnnxWeightsFromBytes(bytes: Uint8Array, options: { file?: string; external?: ExternalDataReader } & ReadOnnxWeightsOptions = {}): Map<string, OnnxWeight> {
  return readOnnxWeightsFromModel(parseOnnxModel(bytes, options.file), options.external, options);
}

/**
 * Resolves a model path: an `.onnx` file as is, or a transformers.js folder
 * (`<dir>/onnx/<fileName>`, else `<dir>/<fileName>`).
 */
export async function resolveOnnxModelFile(path: string, fileName = 'model.onnx'): Promise<string> {
  const s = await stat(path).catch((cause: unknown) => {
    throw new OnnxError('ONNX model not found', { file: path }, { cause });
  });
  if (s.isFile()) return path;
  for (const candidate of [join(path, 'onnx', fileName), join(path, fileName)]) {
    const c = await stat(candidate).catch(() => undefined);
    if (c?.isFile() === true) return candidate;
  }
  throw new OnnxError(`no onnx/${fileName} in the folder`, { file: path });
}

/**
 * Reads the HF-named float32 weights of an ONNX model (see
 * {@link readOnnxWeightsFromModel}) from an `.onnx` file, a transformers.js
 * model folder, or bytes. External data files are read from the model's folder.
 */
export async function readOnnxWeights(model: string | Uint8Array, options: { fileName?: string } & ReadOnnxWeightsOptions = {}): Promise<Map<string, OnnxWeight>> {
  const dq = options.dequantize === undefined ? {} : { dequantize: options.dequantize };
  if (model instanceof Uint8Array) return readOnnxWeightsFromBytes(model, dq);
  const file = await resolveOnnxModelFile(model, options.fileName);
  const bytes = new Uint8Array(await readFile(file));
  return readOnnxWeightsFromBytes(bytes, { file, external: fileExternalDataReader(dirname(file)), ...dq });
}
