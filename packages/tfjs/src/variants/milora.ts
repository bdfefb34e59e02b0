import { initResidualBranch, residualVariantBase, type ResidualState } from './residual-init.js';
import type { Variant } from './variant.js';

/**
 * MiLoRA (Wang et al. 2024): like PiSSA but from the r *smallest* singular
 * directions of W, leaving the principal ones in the frozen residual.
 */
export const miloraVariant: Variant<ResidualState> = {
  ...residualVariantBase('milora'),
  color: '#59a14f',
  init: (ctx) => initResidualBranch(ctx, 'milora'),
};
