/**
 * Runtime (unmerged) adapters for ONNX: a one-time graph rewrite that turns
 * each targeted `y = x @ W` into `y = x @ W + (x @ A) @ B` with A and B as new
 * graph inputs, so one session can switch adapters per run. The math is the
 * unmerged LoRA forward h = W₀x + scaling·B·A·x (eq. (1) of Hu et al., as used
 * by Si et al., arXiv 2409.01035), in the ONNX row-vector layout:
 *   A_feed = scaling · Aᵀ   [in, r]   (pre-scaled, so the graph has no Mul)
 *   B_feed = Bᵀ             [r, out]
 * The rank is a symbolic dimension per module, so any rank (including 0 for
 * "no adapter") can be fed without rebuilding the session.
 */
import { OnnxError } from '@tsd-peft/core';
import { indexGraph, nodeScope, weightOfLinear } from './locate-weight.js';
import { branchSite, loraBranchEdits, takenNames } from './lora-branch.js';
import { encodeTensorValueInfo } from './onnx-encode.js';
import { OnnxDataType, parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { encodeLenField } from './protobuf-wire.js';
import { applyEdits, type ByteEdit } from './splice.js';

/** One rewritten module: the names of its new inputs and their shapes. */
export interface RuntimeAdapterSlot {
  readonly module: string;
  /** Graph input fed with scaling·Aᵀ, shape [inFeatures, rankDim]. */
  readonly inputA: string;
  /** Graph input fed with Bᵀ, shape [rankDim, outFeatures]. */
  readonly inputB: string;
  /** The symbolic dim_param naming this module's rank. */
  readonly rankDim: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Element type of the A/B feeds when not float32: `float16` in fp16 variants. */
  readonly dtype?: 'float16';
}

/** Describes a rewritten model; saved as JSON beside it (`runtime-adapters.json`). */
export interface RuntimeAdapterManifest {
  readonly format: 'tsd-peft-runtime-adapters';
  readonly version: 1;
  readonly slots: readonly RuntimeAdapterSlot[];
}

/** The rewritten model (as chunks; see `applyEdits`) and its manifest. */
export interface RuntimeAdapterRewrite {
  readonly chunks: Uint8Array[];
  readonly manifest: RuntimeAdapterManifest;
}

/** Names of the new graph inputs of `module`. */
export function runtimeAdapterInputNames(module: string): { inputA: string; inputB: string; rankDim: string } {
  return { inputA: `runtime_lora.${module}.a`, inputB: `runtime_lora.${module}.b`, rankDim: `runtime_lora.${module}.r` };
}

/**
 * Rewrites `model` so that each module of `modules` (HF module paths, e.g.
 * every `*_proj` an adapter may target) gets LoRA inputs. For each module:
 * the MatMul's output is renamed (spliced in place) to `<output>/base`, and
 * three nodes are inserted right after it — MatMul(x, a), MatMul(·, b),
 * Add(base, ·) — writing the original output name, so every consumer is
 * unchanged and the node list stays topologically sorted; two ValueInfoProto
 * inputs are appended after the existing graph inputs. All other bytes are
 * kept. Float (fp32, fp16) and quantized (MatMulInteger, MatMulNBits) modules
 * are supported: the branch reads the module's float input and adds to its
 * float result, in the graph's activation type (fp16 feeds for fp16
 * variants). A model that was already rewritten for a module is refused.
 */
export function rewriteForRuntimeAdapters(model: Uint8Array | OnnxModel, modules: readonly string[], file?: string): RuntimeAdapterRewrite {
  const parsed = model instanceof Uint8Array ? parseOnnxModel(model, file) : model;
  const where = parsed.file === undefined ? {} : { file: parsed.file };
  if (modules.length === 0) throw new OnnxError('no modules to rewrite', where);
  const index = indexGraph(parsed);
  const taken = takenNames(parsed, index);
  const lastInput = parsed.inputs[parsed.inputs.length - 1];
  const graphEnc = [{ lenStart: parsed.graph.field.lenStart, valueStart: parsed.graph.field.valueStart, end: parsed.graph.field.end }];
  const inputsAt = lastInput === undefined ? parsed.graph.field.end : lastInput.field.end;
  const edits: ByteEdit[] = [];
  const slots: RuntimeAdapterSlot[] = [];
  for (const module of new Set(modules)) {
    const site = branchSite(parsed, index, module);
    const elemType = site.elemType;
    const names = runtimeAdapterInputNames(module);
    for (const n of [names.inputA, names.inputB]) {
      if (taken.has(n)) throw new OnnxError(`name ${n} is already used; was this model rewritten for ${module} before?`, { ...where, tensor: n });
      taken.add(n);
    }
    edits.push(...loraBranchEdits(site, names.inputA, names.inputB, taken));
    for (const [name, dims] of [
      [names.inputA, [site.inFeatures, names.rankDim]],
      [names.inputB, [names.rankDim, site.outFeatures]],
    ] as const) {
      edits.push({ start: inputsAt, end: inputsAt, bytes: encodeLenField(11, encodeTensorValueInfo(name, elemType, dims)), enclosing: graphEnc });
    }
    slots.push({ module, ...names, inFeatures: site.inFeatures, outFeatures: site.outFeatures, ...(elemType === OnnxDataType.FLOAT ? {} : { dtype: 'float16' as const }) });
  }
  return { chunks: applyEdits(parsed.bytes, edits, parsed.file), manifest: { format: 'tsd-peft-runtime-adapters', version: 1, slots } };
}

/** Parses and checks a manifest JSON (e.g. `onnx/runtime-adapters.json`). */
export function parseRuntimeAdapterManifest(json: string, file?: string): RuntimeAdapterManifest {
  const where = file === undefined ? {} : { file };
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (cause) {
    throw new OnnxError('runtime adapter manifest is not JSON', where, { cause });
  }
  const m = v as Partial<RuntimeAdapterManifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== 'tsd-peft-runtime-adapters' || m.version !== 1 || !Array.isArray(m.slots)) {
    throw new OnnxError('not a tsd-peft runtime adapter manifest (format/version/slots)', where);
  }
  for (const s of m.slots as unknown[]) {
    const slot = s as Partial<RuntimeAdapterSlot>;
    const ok =
      typeof slot.module === 'string' &&
      typeof slot.inputA === 'string' &&
      typeof slot.inputB === 'string' &&
      typeof slot.rankDim === 'string' &&
      Number.isInteger(slot.inFeatures) &&
      Number.isInteger(slot.outFeatures) &&
      (slot.dtype === undefined || slot.dtype === 'float16');
    if (!ok) throw new OnnxError(`bad slot in runtime adapter manifest: ${JSON.stringify(s)}`, where);
  }
  return m as RuntimeAdapterManifest;
}

/**
 * PEFT's `all-linear`: every module computed by a `/…/MatMul` or `/…/Gemm` on
 * an fp32/fp16 weight, or by a quantized MatMulInteger / MatMulNBits node,
 * except the output head (`lm_head`), in graph order.
 */
export function allLinearModules(model: OnnxModel): string[] {
  const index = indexGraph(model);
  const out: string[] = [];
  const isHead = (m: string): boolean => m === 'lm_head' || m.endsWith('.lm_head');
  for (const node of model.nodes) {
    const module = nodeScope(node.name)?.module;
    if (module === undefined || isHead(module) || out.includes(module)) continue;
    if (index.linears.get(module) === node) {
      const w = weightOfLinear(model, index, node, module);
      if (w !== undefined && (w.tensor.dataType === OnnxDataType.FLOAT || w.tensor.dataType === OnnxDataType.FLOAT16)) out.push(module);
    } else if ((node.opType === 'MatMulInteger' || node.opType === 'MatMulNBits' || node.opType === 'MatMulBnb4') && !index.linears.has(module)) {
      out.push(module);
    }
  }
  return out;
}
