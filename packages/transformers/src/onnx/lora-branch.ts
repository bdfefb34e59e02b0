/**
 * A LoRA branch spliced around a module's node: its float result y is
 * renamed to `<y>/base` and `y = base + (x·A)·B` is inserted right after it
 * (two MatMuls and an Add writing the original name, so every consumer and
 * the topological order stay as they were). A and B are graph inputs for
 * runtime adapters, or new initializers for a side-branch export into a
 * quantized variant, where the quantized weight stays untouched and the
 * adapter runs in float: h = W_q·x + s·B·A·x (eq. (1) of Hu et al.).
 */
import { OnnxError } from '@tsd-peft/core';
import type { GraphIndex } from './locate-weight.js';
import { locateModuleWeight } from './locate-weight.js';
import { encodeNode } from './onnx-encode.js';
import { OnnxDataType, dataTypeName, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-model.js';
import { encodeLenField, encodeStringField } from './protobuf-wire.js';
import { locateQuantizedLinear } from './quantized-linear.js';
import type { ByteEdit } from './splice.js';

/** Where a branch attaches: the module's float input and the node whose first output is its float result. */
export interface BranchSite {
  readonly module: string;
  readonly input: string;
  readonly outputNode: OnnxNode;
  /** Node-name prefix for the inserted nodes (`/model/layers.0/self_attn/q_proj`). */
  readonly scope: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The module's weight is quantized (MatMulInteger / MatMulNBits). */
  readonly quantized: boolean;
  /** Element type of x and y (FLOAT, or FLOAT16 in fp16 / q4f16 variants): the type A and B must have. */
  readonly elemType: number;
}

function activationType(t: OnnxTensor, what: string): number {
  if (t.dataType === OnnxDataType.FLOAT || t.dataType === OnnxDataType.FLOAT16) return t.dataType;
  throw new OnnxError(`${what} is ${dataTypeName(t.dataType)}; LoRA branches support float32 and float16 graphs`, { tensor: t.name, shape: t.dims });
}

/**
 * The {@link BranchSite} of `module`: its float MatMul/Gemm, else its
 * quantized node (the float input of the DynamicQuantizeLinear in front of a
 * MatMulInteger, and the scale Mul after it). {@link OnnxError} naming the
 * module when there is neither.
 */
export function branchSite(model: OnnxModel, index: GraphIndex, module: string): BranchSite {
  if (!index.linears.has(module)) {
    const q = locateQuantizedLinear(model, index, module);
    if (q !== undefined) {
      if (q.input === '') throw new OnnxError(`${q.node.opType} node ${q.node.name} has no float input`, { tensor: q.node.name });
      const elemType = activationType(q.kind === 'int8' ? q.scale : q.kind === 'nbits' ? q.scales : q.absmax, `the scale of ${q.node.name}`);
      return {
        module,
        input: q.input,
        outputNode: q.outputNode,
        scope: q.node.name.slice(0, q.node.name.lastIndexOf('/')),
        inFeatures: q.inFeatures,
        outFeatures: q.outFeatures,
        quantized: true,
        elemType,
      };
    }
  }
  const w = locateModuleWeight(model, index, module);
  const x = w.node.inputs[0]?.value ?? '';
  if (x === '') throw new OnnxError(`node ${w.node.name} has no input`, { tensor: w.node.name });
  if (w.path.some((n) => n.opType === 'Cast')) throw new OnnxError(`the weight of ${w.node.name} is cast on its way; its activation type is unknown`, { tensor: w.tensor.name });
  const elemType = activationType(w.tensor, `the weight of ${w.node.name}`);
  return { module, input: x, outputNode: w.node, scope: w.node.name.slice(0, w.node.name.lastIndexOf('/')), inFeatures: w.inFeatures, outFeatures: w.outFeatures, quantized: false, elemType };
}

/**
 * The edits that splice a branch reading `aName` [in, r] and `bName` [r, out]
 * in at `site`. `taken` holds every tensor name in use; new names are added to
 * it, and a clash (a model already rewritten) throws {@link OnnxError}.
 */
export function loraBranchEdits(site: BranchSite, aName: string, bName: string, taken: Set<string>): ByteEdit[] {
  const output = site.outputNode.outputs[0];
  if (output === undefined) throw new OnnxError(`node ${site.outputNode.name} has no output`, { tensor: site.outputNode.name });
  const y = output.value;
  const yBase = `${y}/base`;
  const xa = `${site.scope}/lora_branch/xa`;
  const xab = `${site.scope}/lora_branch/xab`;
  for (const n of [yBase, xa, xab]) {
    if (taken.has(n)) throw new OnnxError(`name ${n} is already used; was this model rewritten for ${site.module} before?`, { tensor: n });
    taken.add(n);
  }
  if (site.outputNode.graph !== 0) throw new OnnxError(`node ${site.outputNode.name} is inside a subgraph; LoRA branches are spliced into the main graph only`, { tensor: site.outputNode.name });
  const graphEnc = site.outputNode.enclosing;
  const added = [
    { name: `${site.scope}/lora_branch/MatMul_a`, opType: 'MatMul', inputs: [site.input, aName], outputs: [xa] },
    { name: `${site.scope}/lora_branch/MatMul_b`, opType: 'MatMul', inputs: [xa, bName], outputs: [xab] },
    { name: `${site.scope}/lora_branch/Add`, opType: 'Add', inputs: [yBase, xab], outputs: [y] },
  ];
  return [
    // Rename the output: replace that one string field (tag, length, text) of the NodeProto.
    { start: output.field.start, end: output.field.end, bytes: encodeStringField(2, yBase), enclosing: output.enclosing },
    ...added.map((n) => ({ start: site.outputNode.field.end, end: site.outputNode.field.end, bytes: encodeLenField(1, encodeNode(n)), enclosing: graphEnc })),
  ];
}

/** Every tensor name the graph uses (node outputs, initializers, inputs). */
export function takenNames(model: OnnxModel, index: GraphIndex): Set<string> {
  return new Set<string>([...index.producers.keys(), ...model.initializers.keys(), ...model.inputs.map((i) => i.name)]);
}
