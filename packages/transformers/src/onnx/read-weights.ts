/**
 * The "ONNX folder" weight source: fp32 weights of a transformers.js ONNX
 * export, named and laid out as in the Hugging Face checkpoint.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OnnxError, decodeWeight, type EncodedWeight } from '@tsd-peft/core';
import { indexGraph, nodeScope, QUANTIZED_OPS, traceInitializer, weightOfLinear, type GraphIndex, type LocatedWeight, type TracedInitializer } from './locate-weight.js';
import { fileExternalDataReader } from './node-io.js';
import { OnnxDataType, parseOnnxModel, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.js';
import { affine8Encoded, blocksOf, blockwise4Encoded, dequantizeAffine8, dequantizeBlockwise4 } from './quantize.js';
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
  /**
   * With {@link ReadOnnxWeightsOptions.keepCodes}: the quantized weight's codes as core's
   * `EncodedWeight` [out, in]; `data` then decodes them on each access (exactly the
   * dequantized values), so a loader that stores `encoded` never expands the tensor.
   */
  readonly encoded?: EncodedWeight;
  /** With `keepCodes`: a quantized weight whose codes could not be kept (per-column scales of an untransposed table), so it was expanded to fp32. */
  readonly codesExpanded?: true;
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
        put(`${module}.weight`, () => dequantizedWeight(model, q, external, options.keepCodes === true));
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
      const viaDequantize = options.dequantize === true ? dequantizeLinearWeight(model, index, node, external, options.keepCodes === true) : undefined;
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
      const embedding = dequantizedGather(model, node, external, options.keepCodes === true);
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
  /**
   * With `dequantize`: keep each quantized weight's codes ({@link OnnxWeight.encoded}) instead
   * of expanding them to fp32 — q4 MatMulNBits codes as q − 8 (zero points zp − 8), 8-bit affine codes as
   * c − 128 with a zero point zp − 128 per row. A weight whose scales are not per row (per-column
   * scales of an untransposed table, which no exporter writes) is expanded and marked
   * {@link OnnxWeight.codesExpanded}. Default false.
   */
  readonly keepCodes?: boolean;
}

/** Quantization ops whose weights {@link ReadOnnxWeightsOptions.dequantize} reads (or, for activations, skips). */
const DEQUANTIZABLE: ReadonlySet<string> = new Set(['MatMulInteger', 'MatMulNBits', 'DynamicQuantizeLinear', 'DequantizeLinear']);

function whereIn(model: OnnxModel, tensor: string): { file?: string; tensor: string } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor };
}

/**
 * An `OnnxWeight` holding codes, converted on first use of `encoded` (so a tensor the replica never reads, e.g. a
 * tied head's quantized copy, is never unpacked); `data` decodes them (core's `decodeWeight`) on each access.
 */
function keptWeight(shape: readonly [number, number], make: () => EncodedWeight, initializer: string, transposed: boolean): OnnxWeight {
  let encoded: EncodedWeight | undefined;
  const codes = (): EncodedWeight => (encoded ??= make());
  return {
    shape,
    get data(): Float32Array {
      return decodeWeight(codes(), initializer);
    },
    initializer,
    transposed,
    get encoded(): EncodedWeight {
      return codes();
    },
  };
}

/** Reads an 8-bit affine weight (codes [rows, cols], per-tensor or per-column scale/zero point); [in, out] → [out, in] when `transpose`. */
function affine8Weight(model: OnnxModel, codesT: OnnxTensor, scaleT: OnnxTensor, zpT: OnnxTensor | undefined, transpose: boolean, keepCodes: boolean, external?: ExternalDataReader): OnnxWeight {
  const [rows, cols] = codesT.dims as [number, number];
  const scales = readTensorFloat32(model, scaleT, external);
  if (scales.length !== 1 && scales.length !== cols) throw new OnnxError(`${scales.length} scales for a [${rows}, ${cols}] weight: expected 1 or ${cols} (per column)`, whereIn(model, scaleT.name));
  const zps = zpT === undefined ? new Uint8Array(scales.length) : readTensorBytes(model, zpT, external);
  if (zps.length !== scales.length) throw new OnnxError(`${zps.length} zero points for ${scales.length} scales`, whereIn(model, zpT?.name ?? codesT.name));
  const codes = readTensorBytes(model, codesT, external);
  const signed = codesT.dataType === OnnxDataType.INT8;
  // per-column scales of an untransposed table (no exporter writes one) are not a row block: expanded instead
  if (keepCodes && (scales.length === 1 || transpose)) {
    const shape: [number, number] = transpose ? [cols, rows] : [rows, cols];
    return keptWeight(shape, () => affine8Encoded(codes, scales, zps, rows, cols, signed, transpose) as EncodedWeight, codesT.name, transpose);
  }
  const values = dequantizeAffine8(codes, scales, zps, cols, signed);
  const w = transpose ? transposeToHf(values, rows, cols, codesT.name) : { shape: [rows, cols], data: values, initializer: codesT.name, transposed: false };
  return keepCodes ? { ...w, codesExpanded: true } : w;
}

function dequantizedWeight(model: OnnxModel, q: QuantizedLinear, external: ExternalDataReader | undefined, keepCodes: boolean): OnnxWeight {
  const { inFeatures: inF, outFeatures: outF } = q;
  if (q.kind === 'nbits') {
    const at = whereIn(model, q.weight.name);
    if (q.bits !== 4) throw new OnnxError(`MatMulNBits node ${q.node.name} has bits=${q.bits}: only 4-bit weights are read`, at);
    if (!Number.isInteger(q.blockSize) || q.blockSize < 2 || (q.blockSize & (q.blockSize - 1)) !== 0) {
      throw new OnnxError(`MatMulNBits node ${q.node.name} has block_size=${q.blockSize}: expected a power of two ≥ 2`, at);
    }
    const blocks = blocksOf(inF, q.blockSize);
    const packed = readTensorBytes(model, q.weight, external);
    if (packed.length !== outF * blocks * (q.blockSize / 2))
      throw new OnnxError(`${packed.length} code bytes: expected ${outF}·${blocks}·${q.blockSize / 2} for N=${outF}, K=${inF}, block_size=${q.blockSize}`, at);
    const scales = readTensorFloat32(model, q.scales, external);
    if (scales.length !== outF * blocks) throw new OnnxError(`${scales.length} scales: expected ${outF * blocks} (N=${outF} × ${blocks} blocks of ${q.blockSize})`, whereIn(model, q.scales.name));
    const zp = q.zeroPoints === undefined ? undefined : readTensorBytes(model, q.zeroPoints, external);
    if (zp !== undefined && zp.length !== outF * Math.ceil(blocks / 2)) {
      throw new OnnxError(`${zp.length} zero-point bytes: expected ${outF * Math.ceil(blocks / 2)} (packed 4-bit, N=${outF} × ${blocks} blocks)`, whereIn(model, q.zeroPoints?.name ?? q.weight.name));
    }
    if (keepCodes) return keptWeight([outF, inF], () => blockwise4Encoded(packed, scales, outF, inF, q.blockSize, zp), q.weight.name, false);
    return { shape: [outF, inF], data: dequantizeBlockwise4(packed, scales, outF, inF, q.blockSize, zp), initializer: q.weight.name, transposed: false };
  }
  if (q.kind === 'bnb4') throw new OnnxError(`MatMulBnb4 node ${q.node.name}: FP4/NF4 weights cannot be read; use another variant`, whereIn(model, q.weight.name));
  if (q.weight.dims[0] !== inF || q.weight.dims[1] !== outF) throw new OnnxError(`weight dims [${q.weight.dims.join(', ')}], expected [${inF}, ${outF}]`, whereIn(model, q.weight.name));
  return affine8Weight(model, q.weight, q.scale, q.zeroPoint, true, keepCodes, external);
}

/** A MatMul weight computed by DequantizeLinear(codes [in, out], scale, zero point) from initializers, dequantized; else undefined. */
function dequantizeLinearWeight(model: OnnxModel, index: GraphIndex, node: OnnxNode, external: ExternalDataReader | undefined, keepCodes: boolean): OnnxWeight | undefined {
  const producer = index.producers.get(node.inputs[1]?.value ?? '');
  if (producer?.opType !== 'DequantizeLinear' || node.opType !== 'MatMul') return undefined;
  const init = (k: number): OnnxTensor | undefined => model.initializers.get(producer.inputs[k]?.value ?? '');
  const codes = init(0);
  const scale = init(1);
  if (codes === undefined || scale === undefined || codes.dims.length !== 2) return undefined;
  const outF = codes.dims[1] as number;
  const axis = Number(producer.attributes.find((a) => a.name === 'axis')?.i ?? 1n);
  if (scale.numel !== 1 && (scale.numel !== outF || (axis !== 1 && axis !== -1))) {
    throw new OnnxError(`DequantizeLinear ${producer.name}: only per-tensor or per-column (axis 1) scales are read`, { tensor: scale.name });
  }
  return affine8Weight(model, codes, scale, init(2), true, keepCodes, external);
}

/** An embedding quantized by `quantize_dynamic`: Gather(uint8/int8 table, ids) → DequantizeLinear(·, scale, zero point), per tensor. */
function dequantizedGather(model: OnnxModel, node: OnnxNode, external: ExternalDataReader | undefined, keepCodes: boolean): OnnxWeight | undefined {
  const table = model.initializers.get(node.inputs[0]?.value ?? '');
  if (table === undefined || (table.dataType !== OnnxDataType.UINT8 && table.dataType !== OnnxDataType.INT8)) return undefined;
  const out = node.outputs[0]?.value ?? '';
  const dq = (node.graph === 0 ? model.nodes : model.subgraphNodes).find((n) => n.graph === node.graph && n.opType === 'DequantizeLinear' && n.inputs[0]?.value === out);
  const scale = model.initializers.get(dq?.inputs[1]?.value ?? '');
  if (dq === undefined || scale === undefined || scale.numel !== 1) {
    throw new OnnxError(`Gather ${node.name} reads a quantized table without a per-tensor DequantizeLinear after it`, { tensor: table.name });
  }
  if (table.dims.length !== 2) throw new OnnxError(`Gather ${node.name} reads a quantized table of ${table.dims.length} dims, expected 2`, whereIn(model, table.name));
  return affine8Weight(model, table, scale, model.initializers.get(dq.inputs[2]?.value ?? ''), false, keepCodes, external);
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
  const dq = { ...(options.dequantize === undefined ? {} : { dequantize: options.dequantize }), ...(options.keepCodes === undefined ? {} : { keepCodes: options.keepCodes }) };
  if (model instanceof Uint8Array) return readOnnxWeightsFromBytes(model, dq);
  const file = await resolveOnnxModelFile(model, options.fileName);
  const bytes = new Uint8Array(await readFile(file));
  return readOnnxWeightsFromBytes(bytes, { file, external: fileExternalDataReader(dirname(file)), ...dq });
}
