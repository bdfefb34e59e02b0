/**
 * Encoders for the few ONNX messages we add to a graph (NodeProto,
 * ValueInfoProto) or build in tests (TensorProto, GraphProto, ModelProto).
 * Field numbers follow onnx/onnx.proto3.
 */
import { concatBytes, encodeLenField, encodePackedVarints, encodeStringField, encodeVarintField } from './protobuf-wire.js';

/** A tensor dimension: a fixed size or a symbolic name (dim_param). */
export type OnnxDim = number | string;

/** An attribute of a new node (ints or int only, enough for Transpose/Cast). */
export type NodeAttributeSpec = { readonly name: string; readonly ints: readonly number[] } | { readonly name: string; readonly i: number };

/** A node to encode. */
export interface NodeSpec {
  readonly name: string;
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly NodeAttributeSpec[];
  /** Operator set domain, e.g. `com.microsoft` for onnxruntime's contrib ops. */
  readonly domain?: string;
}

const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Encodes a NodeProto payload (without the enclosing graph field tag). */
export function encodeNode(n: NodeSpec): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const i of n.inputs) parts.push(encodeStringField(1, i));
  for (const o of n.outputs) parts.push(encodeStringField(2, o));
  parts.push(encodeStringField(3, n.name), encodeStringField(4, n.opType));
  for (const a of n.attributes ?? []) {
    const body =
      'ints' in a
        ? concatBytes([encodeStringField(1, a.name), ...a.ints.map((v) => encodeVarintField(8, v)), encodeVarintField(20, ATTR_INTS)])
        : concatBytes([encodeStringField(1, a.name), encodeVarintField(3, a.i), encodeVarintField(20, ATTR_INT)]);
    parts.push(encodeLenField(5, body));
  }
  if (n.domain !== undefined && n.domain !== '') parts.push(encodeStringField(7, n.domain));
  return concatBytes(parts);
}

/** Encodes a ValueInfoProto payload for a dense tensor of `elemType` (TensorProto.DataType) and `dims`. */
export function encodeTensorValueInfo(name: string, elemType: number, dims: readonly OnnxDim[]): Uint8Array {
  const shape = concatBytes(dims.map((d) => encodeLenField(1, typeof d === 'number' ? encodeVarintField(1, d) : encodeStringField(2, d))));
  const tensorType = concatBytes([encodeVarintField(1, elemType), encodeLenField(2, shape)]);
  const typeProto = encodeLenField(1, tensorType);
  return concatBytes([encodeStringField(1, name), encodeLenField(2, typeProto)]);
}

/** How a test/utility tensor stores its data. */
export type TensorStorage =
  | { readonly raw: Uint8Array }
  | { readonly floatData: Float32Array }
  | { readonly int32Data: readonly number[] }
  | { readonly external: { readonly location: string; readonly offset: number; readonly length: number } };

/** Encodes a TensorProto payload. */
export function encodeTensor(name: string, dataType: number, dims: readonly number[], storage: TensorStorage): Uint8Array {
  const parts: Uint8Array[] = [encodePackedVarints(1, dims), encodeVarintField(2, dataType), encodeStringField(8, name)];
  if ('raw' in storage) parts.push(encodeLenField(9, storage.raw));
  else if ('floatData' in storage) {
    const bytes = new Uint8Array(storage.floatData.length * 4);
    const view = new DataView(bytes.buffer);
    storage.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
    parts.push(encodeLenField(4, bytes));
  } else if ('int32Data' in storage) parts.push(encodePackedVarints(5, storage.int32Data));
  else {
    const e = storage.external;
    const entry = (k: string, v: string): Uint8Array => encodeLenField(13, concatBytes([encodeStringField(1, k), encodeStringField(2, v)]));
    parts.push(entry('location', e.location), entry('offset', String(e.offset)), entry('length', String(e.length)), encodeVarintField(14, 1));
  }
  return concatBytes(parts);
}

/** Parts of a whole model, for building small graphs (tests, examples). */
export interface GraphSpec {
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  readonly initializers: readonly Uint8Array[];
  readonly inputs: readonly Uint8Array[];
  readonly outputs: readonly Uint8Array[];
  readonly irVersion?: number;
  readonly opset?: number;
  /** More opset imports, e.g. `{ domain: 'com.microsoft', version: 1 }`. */
  readonly extraOpsets?: ReadonlyArray<{ readonly domain: string; readonly version: number }>;
}

/** Encodes a complete ModelProto (IR 8, opset 17 by default). */
export function encodeModel(g: GraphSpec): Uint8Array {
  const graph = concatBytes([
    ...g.nodes.map((n) => encodeLenField(1, encodeNode(n))),
    encodeStringField(2, g.name),
    ...g.initializers.map((t) => encodeLenField(5, t)),
    ...g.inputs.map((v) => encodeLenField(11, v)),
    ...g.outputs.map((v) => encodeLenField(12, v)),
  ]);
  const opset = concatBytes([encodeStringField(1, ''), encodeVarintField(2, g.opset ?? 17)]);
  return concatBytes([
    encodeVarintField(1, g.irVersion ?? 8),
    encodeStringField(2, 'tsd-peft'),
    encodeLenField(7, graph),
    encodeLenField(8, opset),
    ...(g.extraOpsets ?? []).map((o) => encodeLenField(8, concatBytes([encodeStringField(1, o.domain), encodeVarintField(2, o.version)]))),
  ]);
}
