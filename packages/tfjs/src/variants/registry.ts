import { doraVariant } from './dora.js';
import { fullVariant } from './full.js';
import { loraDashVariant } from './lora-dash.js';
import { loraInitVariant } from './lora-init.js';
import { loraTsdVariant } from './lora-tsd.js';
import { loraVariant } from './lora.js';
import { miloraVariant } from './milora.js';
import { pissaVariant } from './pissa.js';
import { rsloraVariant } from './rslora.js';
import { ConfigError } from '@tsd-peft/core';
import type { AnyVariant, Variant } from './variant.js';

/** The built-in fine-tuning methods. */
export type BuiltinAdapterMethod = 'lora' | 'rslora' | 'pissa' | 'milora' | 'lora-dash' | 'lora-init' | 'lora-tsd' | 'dora' | 'full';

/**
 * A method name as `AdapterConfig.method` takes it: a built-in one, or one
 * added with {@link registerVariant} (any string, checked at injection).
 */
export type AdapterMethod = BuiltinAdapterMethod | (string & Record<never, never>);

/** Every built-in method by name. Adding one: its file in `variants/` plus its name and one line here. */
export const VARIANTS: Readonly<Record<BuiltinAdapterMethod, AnyVariant>> = {
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

const registered = new Map<string, AnyVariant>(Object.entries(VARIANTS));
const methodNames: AdapterMethod[] = [...registered.keys()];

/**
 * The method names, in registry order: the built-in ones, then those added
 * with {@link registerVariant} (this array grows as they are added).
 */
export const ADAPTER_METHODS: readonly AdapterMethod[] = methodNames;

/** The variant implementing `method`; throws {@link ConfigError} naming the known methods for an unknown one. */
export function variantFor(method: AdapterMethod): AnyVariant {
  const v = registered.get(method);
  if (v === undefined) throw new ConfigError(`unknown method '${String(method)}'; choose one of ${methodNames.join(', ')}`, { field: 'method' });
  return v;
}

/** Whether `method` trains the weights themselves ({@link Variant.dense}, full fine-tuning); false for unknown names. */
export function isDenseMethod(method: string): boolean {
  return registered.get(method)?.dense === true;
}

/**
 * Adds a fine-tuning method from outside the package: after this,
 * `injectAdapters(weights, { method: variant.name })`, the trainer,
 * checkpoints, native files and PEFT export use it like a built-in one.
 * The name must be new, lower-case letters, digits and dashes; throws
 * {@link ConfigError} otherwise.
 */
export function registerVariant<S>(variant: Variant<S>): void {
  const name = variant.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new ConfigError(`a method name is lower-case letters, digits and dashes, got '${String(name)}'`, { field: 'name' });
  }
  if (registered.has(name)) throw new ConfigError(`method '${name}' is already registered`, { field: 'name' });
  registered.set(name, variant as AnyVariant);
  methodNames.push(name);
}

/**
 * The method a PEFT adapter config describes: among the variants with a
 * PEFT form whose marking fields all match `config` (e.g. `use_dora`,
 * `use_rslora`), the most specific one; undefined when none matches.
 */
export function variantForPeftConfig(config: Readonly<Record<string, unknown>>): AnyVariant | undefined {
  let best: AnyVariant | undefined;
  let bestFields = -1;
  for (const v of registered.values()) {
    const fields = v.peft === undefined ? [] : Object.entries(v.peft.config);
    if (v.peft === undefined || !fields.every(([k, value]) => config[k] === value)) continue;
    if (fields.length > bestFields) {
      best = v;
      bestFields = fields.length;
    }
  }
  return best;
}
