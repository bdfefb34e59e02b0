import { createDashVariant, type DashState } from './lora-dash.js';
import { loraInitVariant } from './lora-init.js';
import type { ResidualState } from './residual-init.js';
import type { Variant } from './variant.js';

/**
 * LoRA-TSD (Si et al., arXiv 2409.01035): LoRA-Init followed by LoRA-Dash —
 * the composition of the two variants, copying neither. With the 'prelaunch'
 * estimate the timeline is: plain LoRA for `initSteps` steps → re-init on the
 * task-specific directions → `t` more steps → dash launch, whose change rates
 * measure the update since the re-init, against the original W.
 */
export const loraTsdVariant: Variant<DashState<ResidualState>> = { ...createDashVariant(loraInitVariant, 'lora-tsd'), color: '#ff9da7' };
