import { initLoraWeights, loraFactorsRecord, readLoraFactors, type LoraFactors } from '@tsd-peft/core';
import { assignFactors, createLoraBranch, loraForward, loraOutput, readFactors, type LoraBranch } from './lora-branch.js';
import type { ModuleContext, Variant } from './variant.js';

/** State of a plain LoRA module: just its branch. */
export interface LoraState {
  readonly branch: LoraBranch;
}

/** PEFT's default initialisation: A ~ U(−1/√in, 1/√in) from the model's seeded stream, B = 0. */
export function initPlainLora(ctx: ModuleContext): LoraState {
  const { r, alpha, useRslora } = ctx.config;
  const { factors } = initLoraWeights(ctx.original(), { method: 'lora', r, alpha, useRslora, rng: ctx.rng, name: ctx.name });
  return { branch: createLoraBranch(ctx, factors) };
}

/**
 * LoRA (Hu et al. 2021): W frozen, ΔW = scaling·B·A trained. With
 * `useRslora` the scaling is alpha/√r (rsLoRA); see `rslora.ts`.
 */
export const loraVariant: Variant<LoraState> = {
  name: 'lora',
  color: '#f28e2b',
  init: initPlainLora,
  forward: (x, s) => loraForward(x, s.branch),
  output: (x, s, ctx) => loraOutput(x, s.branch, ctx),
  loraBranch: (s) => s.branch,
  parts: (s) => ({ factors: readFactors(s.branch) }),
  setFactors: (factors: LoraFactors, s, ctx) => ({ branch: assignFactors(s.branch, factors, ctx) }),
  peft: {
    config: { use_dora: false },
    save: (s) => ({ factors: readFactors(s.branch) }),
    load: (m, s, ctx) => ({ branch: assignFactors(s.branch, m.factors, ctx) }),
  },
  saveState: (s) => loraFactorsRecord(readFactors(s.branch)),
  loadState: (record, s, ctx) => ({ branch: assignFactors(s.branch, readLoraFactors(record, { module: ctx.name }), ctx) }),
};
