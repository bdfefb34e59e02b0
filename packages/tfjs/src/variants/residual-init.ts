import { initLoraWeights, unmergeLora, type LoraFactors, type Matrix, type NativeModuleState } from '@tsd-peft/core';
import type { AdapterMethod } from './registry.js';
import { assignFactors, createLoraBranch, readFactors, type LoraBranch } from './lora-branch.js';
import type { ModuleContext } from './variant.js';

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
}

/** Runs core's SVD-based initialiser on the original W and swaps in the residual. */
export function svdInit(
  ctx: ModuleContext,
  method: 'pissa' | 'milora' | 'lora-init',
  estimate?: LoraFactors | Matrix,
): { factors: LoraFactors; selected: Int32Array } {
  const { r, alpha, useRslora } = ctx.config;
  const W = ctx.original();
  const res = initLoraWeights(W, { method, r, alpha, useRslora, svd: ctx.svd(W, ctx.name), name: ctx.name, ...(estimate ? { estimate } : {}) });
  ctx.frozen.replace(res.residual as NonNullable<typeof res.residual>);
  return { factors: res.factors, selected: res.selected as Int32Array };
}

/** Creates the branch of an SVD-initialised module (PiSSA / MiLoRA). */
export function initResidualBranch(ctx: ModuleContext, method: 'pissa' | 'milora'): ResidualState {
  const { factors, selected } = svdInit(ctx, method);
  return { branch: createLoraBranch(ctx, factors), init: factors, selected };
}

/**
 * Native state plus the initial direction indices, which core's native
 * format does not hold yet; carried through checkpoints by the adapter model.
 */
export type ResidualNativeState = NativeModuleState & { initSelected?: number[] };

/** The native-format state of a residual module. */
export function residualToNative(method: AdapterMethod, s: ResidualState): ResidualNativeState {
  const factors = readFactors(s.branch);
  if (s.init === undefined) return { method, factors };
  const state: ResidualNativeState = { method, factors, init: { A0: s.init.A, B0: s.init.B, scaling: s.init.scaling } };
  if (s.selected !== undefined) state.initSelected = [...s.selected];
  return state;
}

/**
 * Restores a residual module from native state: rebuilds W' = W − scaling₀·B₀A₀
 * from the stored initial factors with core's `unmergeLora`, which performs the
 * same float64 accumulation and single rounding as the initialiser, so W' is
 * bit-identical to the one training started from.
 */
export function residualFromNative(state: ResidualNativeState, s: ResidualState, ctx: ModuleContext): ResidualState {
  const branch = assignFactors(s.branch, state.factors, ctx);
  if (state.init === undefined) {
    ctx.frozen.restoreBase();
    return { branch };
  }
  const init: LoraFactors = { A: state.init.A0, B: state.init.B0, scaling: state.init.scaling };
  ctx.frozen.replace(unmergeLora(ctx.original(), init, undefined, ctx.name));
  return { branch, init, ...(state.initSelected ? { selected: Int32Array.from(state.initSelected) } : {}) };
}
