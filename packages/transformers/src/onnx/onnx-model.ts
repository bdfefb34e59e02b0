/**
 * A read-only walk of an ONNX ModelProto (onnx/onnx.proto3) down to what the
 * LoRA patcher needs: the main graph's nodes, initializers (TensorProto) and
 * inputs/outputs, each with the byte offsets of its fields so they can be
 * spliced. Weight bytes are never copied; tensors point into the model buffer.
 * Subgraph nodes (If/Loop bodies) are read too; functions and training info are left unread.
 */
import { OnnxError } from '@tsd-peft/core';
import type { EnclosingField } from './splice.js';
import { WireType, readFields, readRepeatedVarints, readString, varintToInt64, varintToNumber, type WireContext, type WireField } from './protobuf-wire.js';

/** ModelProto / GraphProto / NodeProto / TensorProto / ValueInfoProto field numbers used here. */
export const OnnxField = {
  model: { irVersion: 1, graph: 7 },
  graph: { node: 1, name: 2, initializer: 5, input: 11, output: 12, valueInfo: 13 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 },
  attribute: { name: 1, f: 2, i: 3, g: 6, ints: 8, graphs: 11, type: 20 },
  tensor: {
    dims: 1,
    dataType: 2,
    floatData: 4,
    int32Data: 5,
    name: 8,
    rawData: 9,
    externalData: 13,
    dataLocation: 14,
  },
  valueInfo: { name: 1, type: 2 },
  stringEntry: { key: 1, value: 2 },
} as const;

/** TensorProto.DataType values. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
} as const;

/** A name for a TensorProto data type, for error messages. */
export function dataTypeName(t: number): string {
  for (const [k, v] of Object.entries(OnnxDataType)) if (v === t) return k;
  return `data_type ${t}`;
}

/** A field located in the buffer; `enclosing` lists the Len fields around it, outermost first. */
export interface LocatedField {
  readonly field: WireField;
  readonly enclosing: readonly EnclosingField[];
}

/** A string field (node input/output, names) with its location. */
export interface LocatedString extends LocatedField {
  readonly value: string;
}

/** A NodeProto attribute, read far enough for Transpose's `perm`, Gemm's `transB`/`alpha` and MatMulNBits' `K`/`N`/`bits`/`block_size`. */
export interface OnnxAttribute {
  readonly name: string;
  readonly f?: number;
  readonly i?: bigint;
  readonly ints: readonly bigint[];
}

/** A NodeProto of the main graph, or of a subgraph (If/Loop/Scan bodies). */
export interface OnnxNode extends LocatedField {
  readonly index: number;
  /** 0 for the main graph; subgraphs are numbered 1, 2, … in file order. */
  readonly graph: number;
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly LocatedString[];
  readonly outputs: readonly LocatedString[];
  readonly attributes: readonly OnnxAttribute[];
}

/** A TensorProto initializer with where its data lives. */
export interface OnnxTensor extends LocatedField {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Number of elements (product of dims). */
  readonly numel: number;
  /** raw_data payload field, when present. */
  readonly rawData?: LocatedField;
  /** float_data fields (packed Len fields or single Fixed32 values), in order. */
  readonly floatData: readonly LocatedField[];
  /** int32_data fields (fp16/bf16 may be stored there as uint16 values). */
  readonly int32Data: readonly LocatedField[];
  /** data_location == EXTERNAL. */
  readonly external: boolean;
  /** external_data key → value (location, offset, length, checksum). */
  readonly externalData: ReadonlyMap<string, string>;
}

/** A ValueInfoProto of graph.input / graph.output. */
export interface OnnxValueInfo extends LocatedField {
  readonly name: string;
}

/** The walked model: the buffer, the graph field and its parts. */
export interface OnnxModel {
  readonly bytes: Uint8Array;
  readonly file?: string;
  readonly irVersion?: number;
  /** ModelProto.graph as a field of the model message (its payload is the GraphProto). */
  readonly graph: LocatedField;
  readonly graphName: string;
  readonly nodes: readonly OnnxNode[];
  /**
   * Nodes of subgraphs (e.g. both branches of the `If` in an optimum 1.x merged
   * decoder), recursively; they may read main-graph initializers by name.
   */
  readonly subgraphNodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

function ctx(file: string | undefined, what: string): WireContext {
  return file === undefined ? { what } : { file, what };
}

function asEnclosing(f: WireField): EnclosingField {
  return { lenStart: f.lenStart, valueStart: f.valueStart, end: f.end };
}

function expectLen(f: WireField, c: WireContext, what: string): void {
  if (f.wire !== WireType.Len) {
    throw new OnnxError(`${what} (field ${f.field}) has wire type ${f.wire}, expected length-delimited, at byte ${f.start} in ${c.what}`, c.file === undefined ? {} : { file: c.file });
  }
}

/**
 * Walks a serialized ModelProto. Throws {@link OnnxError} naming `file` for
 * malformed protobuf (truncation, bad varints, impossible lengths), for a
 * model without a graph, and for initializers whose dims or data disagree.
 */
export function parseOnnxModel(bytes: Uint8Array, file?: string): OnnxModel {
  const where = file === undefined ? {} : { file };
  if (bytes.length === 0) throw new OnnxError('empty ONNX model', where);
  const top = readFields(bytes, 0, bytes.length, ctx(file, 'ModelProto'));
  let irVersion: number | undefined;
  const graphs: WireField[] = [];
  for (const f of top) {
    if (f.field === OnnxField.model.irVersion && f.wire === WireType.Varint) irVersion = Number(f.varint);
    else if (f.field === OnnxField.model.graph) {
      expectLen(f, ctx(file, 'ModelProto'), 'graph');
      graphs.push(f);
    }
  }
  const graphField = graphs[0];
  if (graphField === undefined) throw new OnnxError('ModelProto has no graph (not an ONNX model?)', where);
  if (graphs.length > 1) throw new OnnxError('ModelProto has more than one graph field; merged graphs are not supported', where);
  const gEnc = [asEnclosing(graphField)];
  const gc = ctx(file, 'GraphProto');
  const nodes: OnnxNode[] = [];
  const sub: SubgraphSink = { nodes: [], count: 0 };
  const initializers = new Map<string, OnnxTensor>();
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  let graphName = '';
  for (const f of readFields(bytes, graphField.valueStart, graphField.end, gc)) {
    switch (f.field) {
      case OnnxField.graph.node:
        expectLen(f, gc, 'node');
        nodes.push(parseNode(bytes, f, gEnc, nodes.length, 0, sub, file));
        break;
      case OnnxField.graph.initializer: {
        expectLen(f, gc, 'initializer');
        const t = parseTensor(bytes, f, gEnc, file);
        if (initializers.has(t.name)) throw new OnnxError('duplicate initializer', { ...where, tensor: t.name });
        initializers.set(t.name, t);
        break;
      }
      case OnnxField.graph.input:
      case OnnxField.graph.output: {
        expectLen(f, gc, 'value_info');
        const vi = parseValueInfo(bytes, f, gEnc, file);
        (f.field === OnnxField.graph.input ? inputs : outputs).push(vi);
        break;
      }
      case OnnxField.graph.name:
        expectLen(f, gc, 'name');
        graphName = readString(bytes, f);
        break;
      default:
        break;
    }
  }
  return {
    bytes,
    ...(file === undefined ? {} : { file }),
    ...(irVersion === undefined ? {} : { irVersion }),
    graph: { field: graphField, enclosing: [] },
    graphName,
    nodes,
    subgraphNodes: sub.nodes,
    initializers,
    inputs,
    outputs,
  };
}

/** Collects the nodes of every subgraph met while parsing. */
interface SubgraphSink {
  readonly nodes: OnnxNode[];
  count: number;
}

function parseNode(bytes: Uint8Array, nf: WireField, outer: readonly EnclosingField[], index: number, graph: number, sub: SubgraphSink, file?: string): OnnxNode {
  const c = ctx(file, `NodeProto #${index}`);
  const enc = [...outer, asEnclosing(nf)];
  const inputs: LocatedString[] = [];
  const outputs: LocatedString[] = [];
  const attributes: OnnxAttribute[] = [];
  let name = '';
  let opType = '';
  let domain = '';
  for (const f of readFields(bytes, nf.valueStart, nf.end, c)) {
    const F = OnnxField.node;
    if (f.field === F.input || f.field === F.output || f.field === F.name || f.field === F.opType || f.field === F.domain) {
      expectLen(f, c, 'string');
      const value = readString(bytes, f);
      if (f.field === F.input) inputs.push({ field: f, enclosing: enc, value });
      else if (f.field === F.output) outputs.push({ field: f, enclosing: enc, value });
      else if (f.field === F.name) name = value;
      else if (f.field === F.opType) opType = value;
      else domain = value;
    } else if (f.field === F.attribute) {
      expectLen(f, c, 'attribute');
      attributes.push(parseAttribute(bytes, f, c));
      parseSubgraphs(bytes, f, [...enc, asEnclosing(f)], sub, file);
    }
  }
  return { field: nf, enclosing: outer, index, graph, name, opType, domain, inputs, outputs, attributes };
}

/** Parses the nodes of GRAPH / GRAPHS attributes (If/Loop/Scan bodies) into `sub`, recursively. */
function parseSubgraphs(bytes: Uint8Array, af: WireField, enc: readonly EnclosingField[], sub: SubgraphSink, file?: string): void {
  for (const f of readFields(bytes, af.valueStart, af.end, ctx(file, 'AttributeProto'))) {
    if ((f.field !== OnnxField.attribute.g && f.field !== OnnxField.attribute.graphs) || f.wire !== WireType.Len) continue;
    const graph = ++sub.count;
    const gEnc = [...enc, asEnclosing(f)];
    let index = 0;
    for (const n of readFields(bytes, f.valueStart, f.end, ctx(file, `subgraph ${graph}`))) {
      if (n.field === OnnxField.graph.node && n.wire === WireType.Len) sub.nodes.push(parseNode(bytes, n, gEnc, index++, graph, sub, file));
    }
  }
}

function parseAttribute(bytes: Uint8Array, af: WireField, c: WireContext): OnnxAttribute {
  let name = '';
  let i: bigint | undefined;
  let fv: number | undefined;
  const intsFields: WireField[] = [];
  for (const f of readFields(bytes, af.valueStart, af.end, c)) {
    if (f.field === OnnxField.attribute.name && f.wire === WireType.Len) name = readString(bytes, f);
    else if (f.field === OnnxField.attribute.f && f.wire === WireType.Fixed32) fv = new DataView(bytes.buffer, bytes.byteOffset + f.valueStart, 4).getFloat32(0, true);
    else if (f.field === OnnxField.attribute.i && f.wire === WireType.Varint) i = varintToInt64(f.varint as bigint);
    else if (f.field === OnnxField.attribute.ints) intsFields.push(f);
  }
  const ints = readRepeatedVarints(bytes, intsFields, c).map(varintToInt64);
  return { name, ints, ...(i === undefined ? {} : { i }), ...(fv === undefined ? {} : { f: fv }) };
}

function parseValueInfo(bytes: Uint8Array, vf: WireField, outer: readonly EnclosingField[], file?: string): OnnxValueInfo {
  let name = '';
  for (const f of readFields(bytes, vf.valueStart, vf.end, ctx(file, 'ValueInfoProto'))) {
    if (f.field === OnnxField.valueInfo.name && f.wire === WireType.Len) name = readString(bytes, f);
  }
  return { field: vf, enclosing: outer, name };
}

function parseTensor(bytes: Uint8Array, tf: WireField, outer: readonly EnclosingField[], file?: string): OnnxTensor {
  const c = ctx(file, 'TensorProto');
  const enc = [...outer, asEnclosing(tf)];
  const T = OnnxField.tensor;
  let name = '';
  let dataType = 0;
  let external = false;
  let rawData: LocatedField | undefined;
  const dimFields: WireField[] = [];
  const floatData: LocatedField[] = [];
  const int32Data: LocatedField[] = [];
  const externalData = new Map<string, string>();
  for (const f of readFields(bytes, tf.valueStart, tf.end, c)) {
    switch (f.field) {
      case T.dims:
        dimFields.push(f);
        break;
      case T.dataType:
        if (f.wire === WireType.Varint) dataType = Number(f.varint);
        break;
      case T.name:
        expectLen(f, c, 'name');
        name = readString(bytes, f);
        break;
      case T.rawData:
        expectLen(f, c, 'raw_data');
        rawData = { field: f, enclosing: enc };
        break;
      case T.floatData:
        if (f.wire !== WireType.Len && f.wire !== WireType.Fixed32) expectLen(f, c, 'float_data');
        floatData.push({ field: f, enclosing: enc });
        break;
      case T.int32Data:
        int32Data.push({ field: f, enclosing: enc });
        break;
      case T.dataLocation:
        if (f.wire === WireType.Varint) external = f.varint === 1n;
        break;
      case T.externalData: {
        expectLen(f, c, 'external_data');
        let key = '';
        let value = '';
        for (const e of readFields(bytes, f.valueStart, f.end, ctx(file, 'StringStringEntryProto'))) {
          if (e.field === OnnxField.stringEntry.key && e.wire === WireType.Len) key = readString(bytes, e);
          else if (e.field === OnnxField.stringEntry.value && e.wire === WireType.Len) value = readString(bytes, e);
        }
        externalData.set(key, value);
        break;
      }
      default:
        break;
    }
  }
  const dims = readRepeatedVarints(bytes, dimFields, c).map((d) => {
    const v = varintToInt64(d);
    if (v < 0n) throw new OnnxError(`negative dimension ${v}`, { ...(file === undefined ? {} : { file }), tensor: name });
    return varintToNumber(v, c, tf.start);
  });
  let numel = 1;
  for (const d of dims) {
    numel *= d;
    if (!Number.isSafeInteger(numel)) {
      throw new OnnxError('element count overflows', { ...(file === undefined ? {} : { file }), tensor: name, shape: dims });
    }
  }
  const t: OnnxTensor = { field: tf, enclosing: outer, name, dataType, dims, numel, floatData, int32Data, external, externalData };
  return rawData === undefined ? t : { ...t, rawData };
}
