import { ADAPTER_METHODS, isDenseMethod, variantFor, type AdapterMethod } from '@tsd-peft/tfjs';

/**
 * The methods the bench runs, in report order, read from `@tsd-peft/tfjs`'s
 * registry at call time (so a method added with `registerVariant()` runs and
 * reports without editing the bench): dense methods (full fine-tuning, the
 * upper reference) first, then the other non-TSD methods, then the TSD ones,
 * each group in registry order.
 */
export function benchMethods(): AdapterMethod[] {
  const dense = ADAPTER_METHODS.filter((m) => isDenseMethod(m));
  const tsd = tsdMethods();
  const rest = ADAPTER_METHODS.filter((m) => !isDenseMethod(m) && !tsd.includes(m));
  return [...dense, ...rest, ...tsd];
}

/** The methods that select task-specific directions (their variant reports them through `tsdInfo`), in registry order. */
export function tsdMethods(): AdapterMethod[] {
  return ADAPTER_METHODS.filter((m) => !isDenseMethod(m) && variantFor(m).tsdInfo !== undefined);
}

/** Whether `method` is registered in `@tsd-peft/tfjs` (a results file may name one that is not). */
export function isKnownMethod(method: unknown): method is AdapterMethod {
  return typeof method === 'string' && ADAPTER_METHODS.includes(method);
}
