/**
 * The "ONNX folder" weight source: fp32 weights of a transformers.js ONNX
 * export, named and laid out as in the Hugging Face checkpoint.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OnnxError } from '@tsd-peft/core';
import { indexGraph, nodeScope, QUANTIZED_OPS, traceInitializer, weightOfLinear, type GraphIndex, type LocatedWeight, type TracedInitializer } from './locate-weight.js';
import { fileExternalDataReader } from './node-io.js';
import { parseOnnxModel, type OnnxModel, type OnnxNode } from './onnx-model.js';
import { assertFloatTensor, isFloatType, readTensorFloat32, type ExternalDataReader } from './tensor-data.js';

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
  LayerNormalization: [[1, 'weight'], [2, 'bias']],
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
export function readOnnxWeightsFromModel(model: OnnxModel, external?: ExternalDataReader): Map<string, OnnxWeight> {
  const index = indexGraph(model);
  const out = new Map<string, OnnxWeight>();
  const put = (name: string, w: () => OnnxWeight): void => {
    if (!out.has(name)) out.set(name, w());
  };
  for (const node of [...model.nodes, ...model.subgraphNodes]) {
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
      const w = weightOfLinear(model, index, node, module);
      if (w === undefined) continue; // an activation × activation MatMul (attention scores)
      put(`${module}.weight`, () => toHfLayout(model, w, external));
      if (node.opType === 'Gemm') putVector(model, index, node, 2, w.outFeatures, `${module}.bias`, put, external);
      continue;
    }
    if (node.opType === 'Add' && index.linears.has(module)) {
      for (let k = 0; k < 2; k++) putVector(model, index, node, k, undefined, `${module}.bias`, put, external);
      continue;
    }
    if (node.opType === 'Mul' && !index.linears.has(module)) {
      // RMSNorm's scale: weight · normalized (two 1-D candidates never occur; the first wins).
      for (let k = 0; k < 2; k++) putVector(model, index, node, k, undefined, `${module}.weight`, put, external);
      continue;
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
  const data = new Float32Array(values.length);
  for (let i = 0; i < inF; i++) {
    const row = i * outF;
    for (let o = 0; o < outF; o++) data[o * inF + i] = values[row + o] as number;
  }
  return { shape: [outF, inF], data, initializer: w.tensor.name, transposed: true };
}

/** {@link readOnnxWeightsFromModel} on serialized model bytes (no external data unless `external` is given). */
export function readOnnxWeightsFromBytes(bytes: Uint8Array, options: { file?: string; external?: ExternalDataReader } = {}): Map<string, OnnxWeight> {
  return readOnnxWeightsFromModel(parseOnnxModel(bytes, options.file), options.external);
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
export async function readOnnxWeights(model: string | Uint8Array, options: { fileName?: string } = {}): Promise<Map<string, OnnxWeight>> {
  if (model instanceof Uint8Array) return readOnnxWeightsFromBytes(model);
  const file = await resolveOnnxModelFile(model, options.fileName);
  const bytes = new Uint8Array(await readFile(file));
  return readOnnxWeightsFromBytes(bytes, { file, external: fileExternalDataReader(dirname(file)) });
}
