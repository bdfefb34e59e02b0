/**
 * Merging LoRA updates into the weight initializers of an ONNX model, in place
 * in the serialized bytes: for each adapted module, W ← W + scaling·B·A (+ the
 * LoRA-Dash term U_s diag(d) V_sᵀ, eq. (4) of Si et al., arXiv 2409.01035),
 * written back in the initializer's own type and layout. Only the weight
 * payloads change, so the output has the same length and every other byte
 * (graph, unknown fields, ordering) is identical — except for fp16/bf16 weights
 * stored in `int32_data`, whose varints must be re-encoded. Quantized weights
 * (MatMulInteger, MatMulNBits, MatMulBnb4) get a float side branch or are
 * requantized (see `side-branch.ts`, `patch-quantized.ts`).
 */
import { OnnxError, validateDash, validateLoraFactors, type DashTerm, type LoraFactors } from '@tsd-peft/core';
import { indexGraph, locateModuleWeight, type WeightLayout } from './locate-weight.js';
import { mergedStoredValues } from './merge-values.js';
import { branchSite, takenNames } from './lora-branch.js';
import { mergeQuantizedLinear } from './patch-quantized.js';
import { sideBranchEdits } from './side-branch.js';
import { locateQuantizedLinear } from './quantized-linear.js';
import { dataTypeName, parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { applyEdits, type ByteEdit } from './splice.js';
import { encodeTensorWrite, readTensorFloat32, type ExternalDataReader, type ExternalWrite } from './tensor-data.js';

/** A module's update: LoRA factors and, for LoRA-Dash, the launched dash term; for DoRA, the magnitude m [out]. */
export interface ModuleUpdate {
  readonly factors: LoraFactors;
  readonly dash?: DashTerm;
  /** DoRA's magnitude (PEFT `lora_magnitude_vector`): the merged rows are rescaled to these norms (core's `mergeDora`). */
  readonly magnitude?: Float32Array;
}

/**
 * Adapter updates keyed by HF module path. A PEFT adapter's `modules` map
 * (module → {@link LoraFactors}) fits as is; LoRA-Dash/LoRA-Init/LoRA-TSD
 * states go through core's `toPlainLora` first, or pass {factors, dash}.
 */
export type AdapterUpdates = ReadonlyMap<string, LoraFactors | ModuleUpdate>;

/** Options of {@link patchOnnxModel}. */
export interface OnnxPatchOptions {
  /** When set, replaces every module's `scaling` (e.g. to export at another alpha). */
  readonly scaling?: number;
  /** Source of external data bytes (needed when a patched initializer is EXTERNAL). */
  readonly external?: ExternalDataReader;
  /** File name for error messages. */
  readonly file?: string;
  /**
   * How to merge into quantized weights (MatMulInteger, MatMulNBits):
   * `'requantize'` dequantizes, adds ΔW and requantizes with the variant's own
   * scheme; `'side-branch'` (default) leaves the quantized weight untouched and adds
   * the adapter as float initializers, y = W_q·x + (x·s·Aᵀ)·Bᵀ.
   */
  readonly quantized?: QuantizedMergeMode;
}

/** See {@link OnnxPatchOptions.quantized}. */
export type QuantizedMergeMode = 'requantize' | 'side-branch';

/** What was done to one module. */
export interface PatchedModule {
  readonly module: string;
  readonly node: string;
  readonly initializer: string;
  readonly dataType: string;
  readonly layout: WeightLayout;
  /** How it was merged: into the weight, or as a float side branch beside a quantized weight. */
  readonly merge: 'weight' | 'side-branch';
  /** HF shape [out, in]. */
  readonly shape: readonly [number, number];
  readonly rank: number;
  readonly storage: 'raw_data' | 'float_data' | 'int32_data' | 'external';
  /** max |W_new − W_old| over the stored (rounded) values. */
  readonly maxAbsChange: number;
}

/** The patched model: its bytes as chunks (views of the input where unchanged) and writes into external files. */
export interface OnnxPatchResult {
  readonly chunks: Uint8Array[];
  readonly externalWrites: ExternalWrite[];
  readonly modules: PatchedModule[];
}

/** Normalizes an entry of {@link AdapterUpdates}. */
export function toModuleUpdate(u: LoraFactors | ModuleUpdate): ModuleUpdate {
  return 'factors' in u ? u : { factors: u };
}

/**
 * Merges `updates` into the weights of `model` (bytes or an already parsed
 * {@link OnnxModel}). Each module's MatMul/Gemm is found through its scope
 * name and its weight by following the graph; the weight is checked against
 * the factors (A [r, in], B [out, r] vs the stored [in, out] or [out, in]);
 * the sum W + ΔW is accumulated in float64 and rounded once to the stored type
 * (see `encodeTensorWrite`). Quantized modules follow `options.quantized`.
 * Missing nodes, unsupported ops on the weight's path, schemes that cannot be
 * reproduced and shared weights throw {@link OnnxError}; shape mismatches throw
 * {@link ShapeError}.
 */
export function patchOnnxModel(model: Uint8Array | OnnxModel, updates: AdapterUpdates, options: OnnxPatchOptions = {}): OnnxPatchResult {
  const parsed = model instanceof Uint8Array ? parseOnnxModel(model, options.file) : model;
  if (updates.size === 0) throw new OnnxError('the adapter has no modules to merge', parsed.file === undefined ? {} : { file: parsed.file });
  const index = indexGraph(parsed);
  const edits: ByteEdit[] = [];
  const externalWrites: ExternalWrite[] = [];
  const modules: PatchedModule[] = [];
  const seen = new Map<string, string>();
  let taken: Set<string> | undefined;
  for (const [module, raw] of updates) {
    const update = toModuleUpdate(raw);
    const factors = options.scaling === undefined ? update.factors : { ...update.factors, scaling: options.scaling };
    const quantized = index.linears.has(module) ? undefined : locateQuantizedLinear(parsed, index, module);
    if (quantized !== undefined) {
      const rank = validateLoraFactors(factors, { rows: quantized.outFeatures, cols: quantized.inFeatures }, module);
      if (update.dash !== undefined) validateDash(update.dash, { rows: quantized.outFeatures, cols: quantized.inFeatures }, `${module}.dash`);
      // A side branch would have to be spliced into every If branch; inside subgraphs the weight is requantized instead.
      // DoRA's update rescales W itself (not low-rank), so it is always requantized.
      const sideBranch = (options.quantized ?? 'side-branch') === 'side-branch' && quantized.node.graph === 0 && update.magnitude === undefined;
      let maxAbsChange: number;
      if (sideBranch) {
        taken ??= takenNames(parsed, index);
        edits.push(...sideBranchEdits(parsed, branchSite(parsed, index, module), update, factors.scaling, taken));
        maxAbsChange = maxAbs(
          mergedStoredValues(
            parsed,
            quantized.weight.name,
            new Float32Array(quantized.outFeatures * quantized.inFeatures),
            'out_in',
            quantized.outFeatures,
            quantized.inFeatures,
            factors,
            update.dash,
            module,
          ).values,
        );
      } else {
        const merged = mergeQuantizedLinear(parsed, index, quantized, factors, update.dash, options.external, update.magnitude);
        edits.push(...merged.edits);
        externalWrites.push(...merged.externalWrites);
        maxAbsChange = merged.maxAbsChange;
      }
      modules.push({
        module,
        node: quantized.node.name,
        initializer: quantized.weight.name,
        dataType: quantized.kind === 'int8' ? dataTypeName(quantized.weight.dataType) : quantized.kind === 'nbits' ? `${quantized.bits}-bit blockwise` : 'bnb4',
        layout: quantized.kind === 'int8' ? 'in_out' : 'out_in',
        shape: [quantized.outFeatures, quantized.inFeatures],
        rank: rank + (update.dash?.d.length ?? 0),
        storage: quantized.weight.external ? 'external' : 'raw_data',
        merge: sideBranch ? 'side-branch' : 'weight',
        maxAbsChange,
      });
      continue;
    }
    const w = locateModuleWeight(parsed, index, module);
    const other = seen.get(w.tensor.name);
    if (other !== undefined) throw new OnnxError(`modules ${other} and ${module} share one initializer`, { tensor: w.tensor.name });
    seen.set(w.tensor.name, module);
    const out = w.outFeatures;
    const inF = w.inFeatures;
    const rank = validateLoraFactors(factors, { rows: out, cols: inF }, module);
    if (update.dash !== undefined) validateDash(update.dash, { rows: out, cols: inF }, `${module}.dash`);
    const merged = mergedStoredValues(parsed, w.tensor.name, readTensorFloat32(parsed, w.tensor, options.external), w.layout, out, inF, factors, update.dash, module, update.magnitude);
    const write = encodeTensorWrite(parsed, w.tensor, merged.values);
    edits.push(...write.edits);
    if (write.external !== undefined) externalWrites.push(write.external);
    modules.push({
      module,
      node: w.node.name,
      initializer: w.tensor.name,
      dataType: dataTypeName(w.tensor.dataType),
      layout: w.layout,
      shape: [out, inF],
      rank: rank + (update.dash?.d.length ?? 0),
      storage: w.tensor.external ? 'external' : w.tensor.rawData !== undefined ? 'raw_data' : w.tensor.floatData.length > 0 ? 'float_data' : 'int32_data',
      merge: 'weight',
      maxAbsChange: merged.maxAbsChange,
    });
  }
  return { chunks: applyEdits(parsed.bytes, edits, parsed.file), externalWrites, modules };
}

function maxAbs(values: Float64Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}
