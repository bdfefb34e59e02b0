import { ConfigError, type LoraFactors, type Matrix } from '@tsd-peft/core';
import { LORA_A_KEY, LORA_B_KEY, assignFactors, readFactors } from './lora-branch.js';
import { initPlainLora } from './lora.js';
import { residualVariantBase, svdInit, type ResidualState } from './residual-init.js';
import type { ModuleContext, Variant } from './variant.js';

/**
 * Re-initialises a LoRA-Init module from an estimate of ΔW: core's
 * `initLoraWeights('lora-init')` picks the r directions of W with the largest
 * change rate under the estimate (the task-specific directions, Si et al.
 * §4.1), A/B restart from them and W becomes the residual. A and B keep their
 * variables (so names and the trainer's bookkeeping stay stable), and their
 * optimizer state is reset through the model's reset requests: moments
 * accumulated for the discarded pre-launch factors mean nothing for the new ones.
 */
export function reinitFromEstimate(estimate: LoraFactors | Matrix, s: ResidualState, ctx: ModuleContext): ResidualState {
  const { factors, selected, rates, sigma } = svdInit(ctx, 'lora-init', estimate);
  const branch = assignFactors(s.branch, factors, ctx);
  ctx.requestOptimizerReset([LORA_A_KEY, LORA_B_KEY]);
  return { branch, init: factors, selected, sigma, ...(rates === undefined ? {} : { rates }) };
}

/**
 * LoRA-Init (Si et al., arXiv 2409.01035, §4.1): initialise LoRA with the
 * task-specific directions. With the 'prelaunch' estimate the module first
 * trains plain LoRA for `initSteps` optimizer steps, then — in the after-step
 * hook, so the trainer needs nothing special — uses that scaling·B·A as the
 * ΔW estimate and re-initialises. The pre-launch update is discarded (the
 * model function returns to W exactly: W' + scaling·B₀A₀ = W). With the
 * 'gradient' estimate, `AdapterModel.estimateInitFromGradients` must run first.
 */
export const loraInitVariant: Variant<ResidualState> = {
  ...residualVariantBase('lora-init'),
  color: '#b07aa1',
  init: (ctx) => ({ branch: initPlainLora(ctx).branch }),
  settledAfter: (_s, ctx) => (ctx.config.initEstimate === 'prelaunch' ? ctx.config.initSteps : 0),
  afterStep: (completedSteps, s, ctx) => {
    if (s.init !== undefined) return s;
    if (ctx.config.initEstimate === 'gradient') {
      throw new ConfigError("LoRA-Init with initEstimate 'gradient': call estimateInitFromGradients() before training", {
        tensor: ctx.name,
      });
    }
    if (completedSteps < ctx.config.initSteps) return s;
    return reinitFromEstimate(readFactors(s.branch), s, ctx);
  },
  hostReadsAfterStep: (completedSteps, s, ctx) =>
    s.init === undefined && ctx.config.initEstimate === 'prelaunch' && completedSteps >= ctx.config.initSteps ? [s.branch.A, s.branch.B, ...ctx.originalTensors()] : [],
  applyEstimate: (estimate, s, ctx) => reinitFromEstimate(estimate, s, ctx),
  tsdInfo: (s, ctx) =>
    s.selected === undefined
      ? {}
      : {
          initSelected: s.selected,
          ...(s.rates === undefined ? {} : { initRates: s.rates }),
          ...(s.sigma === undefined ? {} : { sigma: s.sigma }),
          selectedAtStep: ctx.config.initEstimate === 'prelaunch' ? ctx.config.initSteps : 0,
        },
};
