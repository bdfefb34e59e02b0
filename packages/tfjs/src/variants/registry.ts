import { doraVariant } from './dora.js';
import { fullVariant } from './full.js';
import { loraDashVariant } from './lora-dash.js';
import { loraInitVariant } from './lora-init.js';
import { loraTsdVariant } from './lora-tsd.js';
import { loraVariant } from './lora.js';
import { miloraVariant } from './milora.js';
import { pissaVariant } from './pissa.js';
import { rsloraVariant } from './rslora.js';
import type { AnyVariant } from './variant.js';

/** The fine-tuning methods, by the name `AdapterConfig.method` takes. */
export type AdapterMethod = 'lora' | 'rslora' | 'pissa' | 'milora' | 'lora-dash' | 'lora-init' | 'lora-tsd' | 'dora' | 'full';

/** Every method by name. Adding a method: its file in `variants/` plus its name and one line here. */
export const VARIANTS: Readonly<Record<AdapterMethod, AnyVariant>> = {
  lora: loraVariant as AnyVariant,
  rslora: rsloraVariant as AnyVariant,
  pissa: pissaVariant as AnyVariant,
  milora: miloraVariant as AnyVariant,
  'lora-dash': loraDashVariant as AnyVariant,
  'lora-init': loraInitVariant as AnyVariant,
  'lora-tsd': loraTsdVariant as AnyVariant,
  dora: doraVariant as AnyVariant,
  full: fullVariant as AnyVariant,
};

/** The variant implementing `method`. */
export function variantFor(method: AdapterMethod): AnyVariant {
  return VARIANTS[method];
}

/** The method names, in registry order. */
export const ADAPTER_METHODS: readonly AdapterMethod[] = Object.keys(VARIANTS) as AdapterMethod[];

/**
 * The method a PEFT adapter config describes: among the variants with a
 * PEFT form whose marking fields all match `config` (e.g. `use_dora`,
 * `use_rslora`), the most specific one; undefined when none matches.
 */
export function variantForPeftConfig(config: Readonly<Record<string, unknown>>): AnyVariant | undefined {
  let best: AnyVariant | undefined;
  let bestFields = -1;
  for (const v of Object.values(VARIANTS)) {
    const fields = v.peft === undefined ? [] : Object.entries(v.peft.config);
    if (v.peft === undefined || !fields.every(([k, value]) => config[k] === value)) continue;
    if (fields.length > bestFields) {
      best = v;
      bestFields = fields.length;
    }
  }
  return best;
}
