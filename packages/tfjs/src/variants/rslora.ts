import { loraVariant, type LoraState } from './lora.js';
import type { Variant } from './variant.js';

/**
 * rsLoRA (Kalajdzievski 2023): LoRA with scaling alpha/√r instead of alpha/r,
 * which keeps the update's magnitude stable as r grows. The config resolver
 * forces `useRslora` for this method; everything else is LoRA.
 */
export const rsloraVariant: Variant<LoraState> = {
  ...loraVariant,
  name: 'rslora',
  color: '#e15759',
  peft: { ...(loraVariant.peft as NonNullable<typeof loraVariant.peft>), config: { use_dora: false, use_rslora: true } },
};
