import { assignFactors, loraForward, loraOutput, readFactors } from './lora-branch.js';
import { initResidualBranch, residualFromNative, residualToNative, type ResidualState } from './residual-init.js';
import type { Variant } from './variant.js';

/**
 * MiLoRA (Wang et al. 2024): like PiSSA but from the r *smallest* singular
 * directions of W, leaving the principal ones in the frozen residual.
 */
export const miloraVariant: Variant<ResidualState> = {
  name: 'milora',
  init: (ctx) => initResidualBranch(ctx, 'milora'),
  forward: (x, s) => loraForward(x, s.branch),
  output: (x, s, ctx) => loraOutput(x, s.branch, ctx),
  loraBranch: (s) => s.branch,
  parts: (s) => ({ factors: readFactors(s.branch), ...(s.init ? { init: s.init } : {}) }),
  setFactors: (factors, s, ctx) => ({ ...s, branch: assignFactors(s.branch, factors, ctx) }),
  toNative: (s) => residualToNative('milora', s),
  fromNative: residualFromNative,
};
