import { initResidualBranch, residualVariantBase, type ResidualState } from './residual-init.js';
import type { Variant } from './variant.js';

/**
 * PiSSA (Meng et al. 2024): A and B start from the top-r singular directions
 * of W (scaling·B₀A₀ = U_r Σ_r V_rᵀ) and W is replaced by the residual
 * W' = W − scaling·B₀A₀; exports as plain LoRA relative to the original W.
 */
export const pissaVariant: Variant<ResidualState> = {
  ...residualVariantBase('pissa'),
  color: '#76b7b2',
  init: (ctx) => initResidualBranch(ctx, 'pissa'),
};
