import {
  combineRecords,
  initLoraWeights,
  initRecord,
  loraFactorsRecord,
  readInitResidual,
  readLoraFactors,
  unmergeLora,
  type InitResidual,
  type LoraFactors,
  type Matrix,
  type StateRecord,
} from '@tsd-peft/core';
import { assignFactors, createLoraBranch, loraForward, loraOutput, readFactors, type LoraBranch } from './lora-branch.js';
import type { ModuleContext, Variant } from './variant.js';

/**
 * Shared by the SVD-initialised variants (PiSSA, MiLoRA, LoRA-Init): the
 * branch starts at scaling₀·B₀A₀ = a sum of chosen singular directions of W,
 * and the frozen weight becomes the residual W' = W − scaling₀·B₀A₀, so the
 * model's function is unchanged at initialisation.
 */
export interface ResidualState {
  readonly branch: LoraBranch;
  /** The initial factors subtracted from W (absent while LoRA-Init is still estimating). */
  readonly init?: LoraFactors;
  /** Singular-direction indices the initial factors use. */
  readonly selected?: Int32Array;
  /** LoRA-Init: the change rate of every direction of W under the ΔW estimate (eq. (3) of Si et al.). */
  readonly rates?: Float64Array;
  /** Singular values of the original W, descending. */
  readonly sigma?: Float64Array;
}

/** What an SVD-based initialisation chose, besides the factors: see {@link ResidualState}. */
export interface SvdInitChoice {
  readonly factors: LoraFactors;
  readonly selected: Int32Array;
  readonly rates?: Float64Array;
  readonly sigma: Float64Array;
}

/**
 * Runs core's SVD-based initialiser on the original W and swaps in the
 * residual. For LoRA-Init it also returns the change rates the directions
 * were chosen by (core's initialiser returns them with the choice).
 */
export function svdInit(ctx: ModuleContext, method: 'pissa' | 'milora' | 'lora-init', estimate?: LoraFactors | Matrix): SvdInitChoice {
  const { r, alpha, useRslora } = ctx.config;
  const W = ctx.original();
  const svd = ctx.svd(W, ctx.name);
  const res = initLoraWeights(W, { method, r, alpha, useRslora, svd, name: ctx.name, ...(estimate ? { estimate } : {}) });
  ctx.frozen.replace(res.residual as NonNullable<typeof res.residual>);
  const choice = { factors: res.factors, selected: res.selected as Int32Array, sigma: res.sigma as Float64Array };
  return res.changeRates === undefined ? choice : { ...choice, rates: res.changeRates.rates };
}

/** Creates the branch of an SVD-initialised module (PiSSA / MiLoRA). */
export function initResidualBranch(ctx: ModuleContext, method: 'pissa' | 'milora'): ResidualState {
  const { factors, selected, sigma } = svdInit(ctx, method);
  return { branch: createLoraBranch(ctx, factors), init: factors, selected, sigma };
}

/**
 * The {@link Variant} members every SVD-initialised method shares (PiSSA,
 * MiLoRA, LoRA-Init): a LoRA branch over the residual W', exported with its
 * initial factors, and native state with what chose them.
 */
export function residualVariantBase(
  method: 'pissa' | 'milora' | 'lora-init',
): Pick<Variant<ResidualState>, 'name' | 'forward' | 'output' | 'loraBranch' | 'parts' | 'setFactors' | 'saveState' | 'loadState'> {
  return {
    name: method,
    forward: (x, s) => loraForward(x, s.branch),
    output: (x, s, ctx) => loraOutput(x, s.branch, ctx),
    loraBranch: (s) => s.branch,
    parts: (s) => ({ factors: readFactors(s.branch), ...(s.init ? { init: s.init } : {}) }),
    setFactors: (factors, s, ctx) => ({ ...s, branch: assignFactors(s.branch, factors, ctx) }),
    saveState: residualSaveState,
    loadState: residualLoadState,
  };
}

/** The record of a residual module: its factors, and the initial factors with what chose them (core's init part). */
export function residualSaveState(s: ResidualState): StateRecord {
  const factors = loraFactorsRecord(readFactors(s.branch));
  if (s.init === undefined) return factors;
  const init: InitResidual = { A0: s.init.A, B0: s.init.B, scaling: s.init.scaling };
  if (s.selected !== undefined) init.selected = s.selected;
  if (s.rates !== undefined) init.changeRates = s.rates;
  if (s.sigma !== undefined) init.sigma = s.sigma;
  return combineRecords(factors, initRecord(init));
}

/**
 * Restores a residual module from its record: rebuilds W' = W − scaling₀·B₀A₀
 * from the stored initial factors with core's `unmergeLora`, which performs the
 * same float64 accumulation and single rounding as the initialiser, so W' is
 * bit-identical to the one training started from.
 */
export function residualLoadState(record: StateRecord, s: ResidualState, ctx: ModuleContext): ResidualState {
  const at = { module: ctx.name };
  // Both parts are read (and checked) before anything changes.
  const stored = readInitResidual(record, at, { rows: ctx.frozen.outFeatures, cols: ctx.frozen.inFeatures });
  const branch = assignFactors(s.branch, readLoraFactors(record, at), ctx);
  if (stored === undefined) {
    ctx.frozen.restoreBase();
    return { branch };
  }
  const init: LoraFactors = { A: stored.A0, B: stored.B0, scaling: stored.scaling };
  ctx.frozen.replace(unmergeLora(ctx.original(), init, undefined, ctx.name));
  const { selected, changeRates: rates, sigma } = stored;
  return {
    branch,
    init,
    ...(selected === undefined ? {} : { selected }),
    ...(rates === undefined ? {} : { rates }),
    ...(sigma === undefined ? {} : { sigma }),
  };
}
