import { assignFactors, loraForward, loraOutput, readFactors } from './lora-branch.js';
import { initResidualBranch, residualFromNative, residualToNative, type ResidualState } from './residual-init.js';
import type { Variant } from './variant.js';

/**
 * PiSSA (Meng et al. 2024): A and B start from the top-r singular directions
 * of W (scaling·B₀A₀ = U_r Σ_r V_rᵀ) and W is replaced by the residual
 * W' = W − scaling·B₀A₀; exports as plain LoRA relative to the original W.
 */
export const pissaVariant: Variant<ResidualState> = {
  name: 'pissa',
  init: (ctx) => initResidualBranch(ctx, 'pissa'),
  forward: (x, s) => loraForward(x, s.branch),
  output: (x, s, ctx) => loraOutput(x, s.branch, ctx),
  loraBranch: (s) => s.branch,
  parts: (s) => ({ factors: readFactors(s.branch), ...(s.init ? { init: s.init } : {}) }),
  setFactors: (factors, s, ctx) => ({ ...s, branch: assignFactors(s.branch, factors, ctx) }),
  toNative: (s) => residualToNative('pissa', s),
  fromNative: residualFromNative,
};
