/**
 * The "ONNX folder" weight source: fp32 weights of a transformers.js ONNX
 * export, named and laid out as in the Hugging Face checkpoint.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OnnxError, moduleFromOnnxNodeName } from '@tsd-peft/core';
import { indexGraph, QUANTIZED_OPS, weightOfMatMul, type LocatedWeight } from './locate-weight.js';
import { fileExternalDataReader } from './node-io.js';
import { parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { assertFloatTensor, readTensorFloat32, type ExternalDataReader } from './tensor-data.js';

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

/**
 * Reads the float weights of a parsed model, keyed by HF parameter name:
 * - every MatMul named `/<module path>/MatMul` whose second input is an
 *   initializer (or a Transpose of one) gives `<module>.weight` as [out, in]
 *   (the stored [in, out] Wᵀ is transposed back; this includes `lm_head.weight`,
 *   which torch.onnx stores as a transposed copy of a tied embedding);
 * - every initializer already named like an HF parameter (`model.embed_tokens.weight`,
 *   norms, biases) is returned as stored.
 * fp16/bf16 values are converted to float32 exactly. Quantized weights (int8/uint8/
 * 4-bit initializers, MatMulNBits/MatMulInteger/DequantizeLinear) throw
 * {@link OnnxError} naming the tensor.
 */
export function readOnnxWeightsFromModel(model: OnnxModel, external?: ExternalDataReader): Map<string, OnnxWeight> {
  const index = indexGraph(model);
  const out = new Map<string, OnnxWeight>();
  const used = new Set<string>();
  for (const node of model.nodes) {
    if (QUANTIZED_OPS.has(node.opType)) {
      // Weights behind quantization ops are int8/4-bit codes plus scales: not readable as fp32 weights.
      const tensor = node.inputs.find((i) => model.initializers.has(i.value))?.value ?? node.name;
      throw new OnnxError(`node ${node.name} is ${node.opType}: the model is quantized; use an fp32 or fp16 export`, {
        ...(model.file === undefined ? {} : { file: model.file }),
        tensor,
      });
    }
    const module = moduleFromOnnxNodeName(node.name);
    if (node.opType !== 'MatMul' || module === undefined) continue;
    const w = weightOfMatMul(model, index, node, module);
    if (w === undefined) continue; // an activation × activation MatMul (attention scores)
    out.set(`${module}.weight`, toHfLayout(model, w, external));
    used.add(w.tensor.name);
  }
  for (const [name, t] of model.initializers) {
    if (used.has(name) || !HF_PARAM_NAME.test(name) || out.has(name)) continue;
    assertFloatTensor(model, t);
    out.set(name, { shape: [...t.dims], data: readTensorFloat32(model, t, external), initializer: name, transposed: false });
  }
  return out;
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
