/**
 * Finding the weights of Hugging Face modules in an ONNX graph by following
 * the graph from the nodes, never by initializer names: a module's linear node
 * (`/<scope>/MatMul`, or `/<scope>/Gemm` for GPT-2's Conv1D in Optimum exports),
 * its weight input traced back through Transpose, Cast, Identity and
 * shape-only ops that add or drop size-1 dims (Reshape to a constant shape,
 * Squeeze, Unsqueeze, Flatten) to an initializer.
 */
import { OnnxError, decodeInt64 } from '@tsd-peft/core';
import { OnnxDataType, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.js';

/**
 * How a module's weight is stored: `'in_out'` = the initializer is Wᵀ
 * ([in, out], what MatMul reads after constant folding, and GPT-2's Conv1D);
 * `'out_in'` = the initializer is W ([out, in]), e.g. behind a Transpose.
 */
export type WeightLayout = 'in_out' | 'out_in';

/** A module's weight as found in the graph. */
export interface LocatedWeight {
  readonly module: string;
  /** The MatMul or Gemm node that reads the weight. */
  readonly node: OnnxNode;
  readonly tensor: OnnxTensor;
  readonly layout: WeightLayout;
  /** The Transpose node between the initializer and the node, when there is one. */
  readonly transpose?: OnnxNode;
  /** Every node between the initializer and `node` (Transpose, Cast, Reshape, …), nearest the initializer first. */
  readonly path: readonly OnnxNode[];
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
  'MatMulBnb4',
]);

/** Ops a weight may pass through on its way from an initializer to the node that reads it. */
export const WEIGHT_PASS_THROUGH: ReadonlySet<string> = new Set(['Transpose', 'Cast', 'Identity', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten']);

/** Lookup tables over one model, built once and shared by many {@link locateModuleWeight} calls. */
export interface GraphIndex {
  readonly byName: ReadonlyMap<string, OnnxNode>;
  readonly producers: ReadonlyMap<string, OnnxNode>;
  /** tensor name → number of node inputs that read it (graph outputs count too). */
  readonly consumers: ReadonlyMap<string, number>;
  /** module path → its linear node (MatMul or Gemm named `/<scope>/MatMul|Gemm`). */
  readonly linears: ReadonlyMap<string, OnnxNode>;
}

/** Op types of the nodes that compute a linear module. */
export const LINEAR_OPS: ReadonlySet<string> = new Set(['MatMul', 'Gemm']);

/**
 * Splits an exporter node name `/<scope>/<Op>[_k]` into the module path its
 * scope names (`/model/layers.0/self_attn/q_proj/MatMul` → `model.layers.0.self_attn.q_proj`)
 * and the last segment; undefined for names outside that scheme.
 */
export function nodeScope(name: string): { module: string; leaf: string } | undefined {
  if (!name.startsWith('/')) return undefined;
  const parts = name.slice(1).split('/');
  const leaf = parts.pop();
  if (leaf === undefined || parts.length === 0 || parts.some((s) => !/^[^./]+(\.\d+)*$/.test(s))) return undefined;
  return { module: parts.join('.'), leaf };
}

/** Builds the {@link GraphIndex} of a model. */
export function indexGraph(model: OnnxModel): GraphIndex {
  const byName = new Map<string, OnnxNode>();
  const producers = new Map<string, OnnxNode>();
  const consumers = new Map<string, number>();
  const linears = new Map<string, OnnxNode>();
  // Subgraph twins (the same node in both branches of a merged decoder's If) count as one reader.
  const subReaders = new Map<string, Set<string>>();
  for (const n of [...model.nodes, ...model.subgraphNodes]) {
    if (n.name !== '' && !byName.has(n.name)) byName.set(n.name, n);
    for (const o of n.outputs) if (o.value !== '' && !producers.has(o.value)) producers.set(o.value, n);
    for (const i of n.inputs) {
      if (i.value === '') continue;
      if (n.graph !== 0 && n.name !== '') {
        const seen = subReaders.get(i.value) ?? new Set<string>();
        subReaders.set(i.value, seen);
        if (seen.has(n.name)) continue;
        seen.add(n.name);
      }
      consumers.set(i.value, (consumers.get(i.value) ?? 0) + 1);
    }
    const scope = nodeScope(n.name);
    if (scope !== undefined && LINEAR_OPS.has(n.opType) && scope.leaf === n.opType && !linears.has(scope.module)) linears.set(scope.module, n);
  }
  for (const o of model.outputs) consumers.set(o.name, (consumers.get(o.name) ?? 0) + 1);
  return { byName, producers, consumers, linears };
}

function where(model: OnnxModel, tensor: string, shape?: readonly number[]): { file?: string; tensor: string; shape?: readonly number[] } {
  return { ...(model.file === undefined ? {} : { file: model.file }), tensor, ...(shape === undefined ? {} : { shape }) };
}

function swapsTwoDims(node: OnnxNode): boolean {
  const perm = node.attributes.find((a) => a.name === 'perm');
  if (perm === undefined) return true; // default perm reverses the dims: a 2-D transpose
  return perm.ints.length === 2 && perm.ints[0] === 1n && perm.ints[1] === 0n;
}

/** The constant target shape of a Reshape (its second input as an int64 initializer) without size-1 dims, or undefined. */
function reshapeTarget(model: OnnxModel, node: OnnxNode): number[] | undefined {
  const t = model.initializers.get(node.inputs[1]?.value ?? '');
  if (t === undefined || t.dataType !== OnnxDataType.INT64 || t.rawData === undefined) return undefined;
  const raw = model.bytes.subarray(t.rawData.field.valueStart, t.rawData.field.end);
  return Array.from(decodeInt64(raw), Number).filter((d) => d !== 1);
}

function sameDims(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
}

/** An initializer reached from a node input, and what lies between. */
export interface TracedInitializer {
  readonly tensor: OnnxTensor;
  /** Nodes between the initializer and the reader, nearest the initializer first. */
  readonly path: readonly OnnxNode[];
  /** Number of 2-D transposes on the path (odd = the reader sees the transpose). */
  readonly transposes: number;
  /** The shape the reader sees (size-1 dims dropped by shape-only ops). */
  readonly dims: readonly number[];
}

/**
 * Follows `tensorName` back to an initializer through {@link WEIGHT_PASS_THROUGH}
 * ops. Returns undefined when the value is computed from activations or
 * constants; throws {@link OnnxError} when it comes out of a quantization op
 * (`reader` names the node in the message).
 */
export function traceInitializer(model: OnnxModel, index: GraphIndex, tensorName: string, reader: string): TracedInitializer | undefined {
  const path: OnnxNode[] = [];
  let name = tensorName;
  for (let hops = 0; hops < 16; hops++) {
    const t = model.initializers.get(name);
    if (t !== undefined) {
      path.reverse();
      let dims = [...t.dims];
      let transposes = 0;
      for (const n of path) {
        if (n.opType === 'Transpose') {
          if (dims.length !== 2 || !swapsTwoDims(n)) return undefined;
          dims = [dims[1] as number, dims[0] as number];
          transposes++;
        } else if (n.opType !== 'Cast' && n.opType !== 'Identity') {
          // Shape-only ops keep the row-major order; only adding or dropping size-1 dims keeps the meaning.
          const kept = dims.filter((d) => d !== 1);
          if (n.opType === 'Reshape' && !sameDims(reshapeTarget(model, n), kept)) return undefined;
          dims = kept;
        }
      }
      return { tensor: t, path, transposes, dims };
    }
    const producer = index.producers.get(name);
    if (producer === undefined) return undefined;
    if (QUANTIZED_OPS.has(producer.opType)) {
      // A dequantized initializer is a quantized weight; other quantization ops produce activations.
      if (producer.opType === 'DequantizeLinear' && model.initializers.has(producer.inputs[0]?.value ?? '')) {
        throw new OnnxError(`weight of ${reader} comes from ${producer.opType} node ${producer.name}: the graph is quantized here`, where(model, name));
      }
      return undefined;
    }
    if (!WEIGHT_PASS_THROUGH.has(producer.opType)) return undefined;
    path.push(producer);
    name = producer.inputs[0]?.value ?? '';
  }
  return undefined;
}

/**
 * The weight of a linear node (MatMul, or Gemm with its `transB`): an
 * initializer reached through {@link traceInitializer}. Returns undefined when
 * the weight input is an activation (e.g. QKᵀ) or not 2-D; throws
 * {@link OnnxError} when it comes from a quantization op.
 */
export function weightOfLinear(model: OnnxModel, index: GraphIndex, node: OnnxNode, module: string): LocatedWeight | undefined {
  const wName = node.inputs[1]?.value;
  if (wName === undefined || wName === '') return undefined;
  const traced = traceInitializer(model, index, wName, node.name);
  if (traced === undefined || traced.dims.length !== 2 || traced.tensor.dims.length !== 2) return undefined;
  if (node.opType === 'Gemm') {
    const transA = node.attributes.find((a) => a.name === 'transA')?.i ?? 0n;
    const alpha = node.attributes.find((a) => a.name === 'alpha')?.f ?? 1;
    // Y = alpha·A·B + beta·C: a merge adds ΔW to B, exact only for alpha = 1 (what Optimum writes).
    if (transA !== 0n || alpha !== 1) {
      throw new OnnxError(`Gemm node ${node.name} has transA=${transA}, alpha=${alpha}; only transA=0, alpha=1 is supported`, where(model, node.name));
    }
  }
  // The reader multiplies by [in, out] unless a Gemm transposes B.
  const transB = node.opType === 'Gemm' && (node.attributes.find((a) => a.name === 'transB')?.i ?? 0n) !== 0n;
  const flips = (traced.transposes + (transB ? 1 : 0)) % 2 === 1;
  const [d0, d1] = traced.tensor.dims as [number, number];
  const layout: WeightLayout = flips ? 'out_in' : 'in_out';
  const [inF, outF] = layout === 'in_out' ? [d0, d1] : [d1, d0];
  const transpose = traced.path.find((n) => n.opType === 'Transpose');
  return { module, node, tensor: traced.tensor, layout, ...(transpose === undefined ? {} : { transpose }), path: traced.path, inFeatures: inF, outFeatures: outF };
}

/**
 * Locates the weight of `module` (an HF module path such as
 * `model.layers.0.self_attn.q_proj`) for patching. Throws {@link OnnxError}
 * naming the node or tensor when the node is missing, quantized, not a
 * MatMul/Gemm on a 2-D float initializer, or when the initializer (or a node
 * on its path) is also read elsewhere (patching it would change them too,
 * e.g. an embedding tied to lm_head).
 */
export function locateModuleWeight(model: OnnxModel, index: GraphIndex, module: string): LocatedWeight {
  const node = index.linears.get(module);
  if (node === undefined) {
    const probe = `/${module.replace(/\.(?!\d)/g, '/')}/`;
    const other = [...model.nodes, ...model.subgraphNodes].find((n) => n.name.startsWith(probe) && (QUANTIZED_OPS.has(n.opType) || n.opType === 'MatMul' || n.opType === 'Gemm'));
    if (other !== undefined && QUANTIZED_OPS.has(other.opType)) {
      throw new OnnxError(`module ${module} is computed by ${other.opType} node ${other.name}: the model is quantized here`, where(model, other.inputs[1]?.value ?? other.name));
    }
    throw new OnnxError(`no MatMul node named ${probe}MatMul (nor a ${probe}Gemm) for module ${module}`, where(model, `${probe}MatMul`));
  }
  if (node.domain !== '' && node.domain !== 'ai.onnx') {
    throw new OnnxError(`node ${node.name} is ${node.domain}.${node.opType}, expected the standard ${node.opType}`, where(model, node.name));
  }
  const w = weightOfLinear(model, index, node, module);
  if (w === undefined) {
    throw new OnnxError(
      `the weight input of ${node.name} is not an initializer with 2 dims (nor one behind Transpose/Cast/Reshape): unsupported op feeding ${module}`,
      where(model, node.inputs[1]?.value ?? node.name),
    );
  }
  const readers = [w.tensor.name, ...w.path.map((n) => n.outputs[0]?.value ?? '')].map((t) => index.consumers.get(t) ?? 0);
  const shared = Math.max(...readers);
  if (shared > 1) {
    throw new OnnxError(`initializer is shared by ${shared} nodes; patching it for ${module} would change the others too`, where(model, w.tensor.name, w.tensor.dims));
  }
  return w;
}
