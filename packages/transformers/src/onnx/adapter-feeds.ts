/**
 * The graph-input values of an adapter for a runtime-adapter graph (see
 * `runtime-adapters.ts`): per rewritten module, A' = [s·Aᵀ | V_sᵀ·diag(d)]
 * [in, k] and B' = [Bᵀ ; U_sᵀ] [k, out] (a LoRA-Dash term folded in as extra
 * rank, as in the side-branch export), rank 0 for modules the adapter leaves
 * alone. Every check runs before anything is returned, so a caller that swaps
 * in the result never holds a half-built adapter.
 */
import { ConfigError, encodeFloat16, loraRankFor, validateLoraFactors, type LoraAdapterConfig } from '@tsd-peft/core';
import { BaseModelMismatchError, RankPatternError, TargetModuleMissingError } from './adapter-errors.js';
import { toModuleUpdate, type AdapterUpdates } from './patch.js';
import type { RuntimeAdapterManifest, RuntimeAdapterSlot } from './runtime-adapters.js';
import { branchFactors } from './side-branch.js';

/** One graph input's values, as float32 (converted to the slot's type when the tensor is made). */
export interface AdapterFeedArray {
  readonly data: Float32Array;
  readonly dims: readonly [number, number];
  readonly type: 'float32' | 'float16';
}

/** Graph input name → values. */
export type AdapterFeedArrays = ReadonlyMap<string, AdapterFeedArray>;

/** What {@link adapterFeedArrays} checks an adapter against. */
export interface AdapterFeedContext {
  /** Name used in error messages. */
  readonly adapterName: string;
  /** Every linear module of the graph (rewritten or not), to tell "not in the graph" from "not rewritten". */
  readonly graphModules?: ReadonlySet<string>;
  /** The adapter's PEFT config, when it has one: ranks are checked against `r` / `rank_pattern`. */
  readonly config?: LoraAdapterConfig;
  /** The adapter's `base_model_name_or_path`, named in a base-model mismatch. */
  readonly baseModel?: string | null;
}

/** float32 values → IEEE binary16 bit patterns (round to nearest even), as onnxruntime's float16 tensors hold them. */
export function toHalfBits(data: Float32Array): Uint16Array {
  const bytes = encodeFloat16(data);
  return new Uint16Array(bytes.buffer, bytes.byteOffset, data.length);
}

function zeroRank(slot: RuntimeAdapterSlot, feeds: Map<string, AdapterFeedArray>): void {
  // Rank 0: [in, 0] @ [0, out] is an all-zero [.., out] in onnxruntime, so the slot adds exact zeros.
  const type = slot.dtype ?? 'float32';
  feeds.set(slot.inputA, { data: new Float32Array(0), dims: [slot.inFeatures, 0], type });
  feeds.set(slot.inputB, { data: new Float32Array(0), dims: [0, slot.outFeatures], type });
}

/**
 * The feeds of `modules` (null: the base model, rank 0 everywhere). Throws,
 * before building anything: {@link TargetModuleMissingError} for a module the
 * graph lacks, {@link ConfigError} for one the rewrite did not cover,
 * {@link BaseModelMismatchError} when the factors' [out, in] differ from the
 * graph's, {@link RankPatternError} when a rank disagrees with the config.
 */
export function adapterFeedArrays(manifest: RuntimeAdapterManifest, modules: AdapterUpdates | null, ctx: AdapterFeedContext): AdapterFeedArrays {
  const slots = new Map<string, RuntimeAdapterSlot>(manifest.slots.map((s) => [s.module, s]));
  const updates = [...(modules ?? new Map())].map(([module, raw]) => ({ module, update: toModuleUpdate(raw) }));
  for (const { module, update } of updates) {
    const slot = slots.get(module);
    if (slot === undefined) {
      if (ctx.graphModules !== undefined && !ctx.graphModules.has(module)) {
        const some = [...ctx.graphModules].slice(0, 3).join(', ');
        throw new TargetModuleMissingError(
          `adapter "${ctx.adapterName}" targets ${module}, which is not a linear module of this graph (it has e.g. ${some}); is the adapter for another architecture?`,
          { tensor: module },
        );
      }
      throw new ConfigError(`adapter "${ctx.adapterName}" targets ${module}, which the runtime rewrite did not cover (rewrite with this module)`, { tensor: module });
    }
    if (update.magnitude !== undefined) {
      throw new ConfigError(`adapter "${ctx.adapterName}" is a DoRA adapter on ${module}; its update rescales W and has no runtime low-rank form (merge it with exportForTransformersJs)`, {
        tensor: module,
      });
    }
    const { A, B } = update.factors;
    if (A.cols !== slot.inFeatures || B.rows !== slot.outFeatures) {
      const base = ctx.baseModel ? ` (trained on ${ctx.baseModel})` : '';
      throw new BaseModelMismatchError(
        `adapter "${ctx.adapterName}"${base} is for another base model: ${module} is [out ${B.rows}, in ${A.cols}] in the adapter but [out ${slot.outFeatures}, in ${slot.inFeatures}] in this graph`,
        { tensor: module, shape: [B.rows, A.cols] },
      );
    }
    if (ctx.config !== undefined) {
      const r = loraRankFor(ctx.config, module);
      if (A.rows !== r) {
        throw new RankPatternError(`adapter "${ctx.adapterName}": ${module} has rank ${A.rows}, but the config's r / rank_pattern gives ${r}`, {
          tensor: `${module}.lora_A.weight`,
          shape: [A.rows, A.cols],
          field: 'rank_pattern',
        });
      }
    }
    validateLoraFactors(update.factors, { rows: slot.outFeatures, cols: slot.inFeatures }, module);
  }
  const feeds = new Map<string, AdapterFeedArray>();
  for (const { module, update } of updates) {
    const slot = slots.get(module) as RuntimeAdapterSlot;
    const { a, b, rank } = branchFactors(update, update.factors.scaling, slot.inFeatures, slot.outFeatures);
    const type = slot.dtype ?? 'float32';
    feeds.set(slot.inputA, { data: Float32Array.from(a), dims: [slot.inFeatures, rank], type });
    feeds.set(slot.inputB, { data: Float32Array.from(b), dims: [rank, slot.outFeatures], type });
  }
  for (const slot of manifest.slots) if (!feeds.has(slot.inputA)) zeroRank(slot, feeds);
  return feeds;
}
