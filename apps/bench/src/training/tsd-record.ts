import type { AdapterModel } from '@tsd-peft/tfjs';
import { jsonNumber, type RunConfig, type TsdModule, type TsdRecord } from '../report/schema.js';

/** Full spectra are kept while a run's total stays under this many numbers (about 100 KB of JSON). */
export const MAX_SPECTRUM_VALUES = 20_000;

/**
 * The directions a TSD method chose, per module, from the adapter model:
 * LoRA-Dash's launched directions with their change rates (and the whole
 * spectrum while small), LoRA-Init's initial directions (no rates reported),
 * and for LoRA-TSD both. Undefined for methods that select nothing.
 */
export function tsdRecordOf(adapter: AdapterModel, config: RunConfig): TsdRecord | undefined {
  const selections = adapter.tsdSelections();
  if (selections.size === 0) return undefined;
  let budget = MAX_SPECTRUM_VALUES;
  const modules: TsdModule[] = [];
  for (const [module, info] of selections) {
    const dash = info.dashSelected === undefined ? undefined : Array.from(info.dashSelected);
    const init = info.initSelected === undefined ? undefined : Array.from(info.initSelected);
    // A launch restored from a checkpoint carries no rates (an empty array): treat them as unknown.
    const rates = info.dashRates !== undefined && info.dashRates.length > 0 ? info.dashRates : undefined;
    const indices = dash ?? init ?? [];
    const entry: TsdModule = {
      module,
      indices,
      changeRates: dash !== undefined && rates !== undefined ? dash.map((i) => jsonNumber(rates[i] as number)) : [],
    };
    if (rates !== undefined && rates.length <= budget) {
      entry.spectrum = Array.from(rates, (v) => jsonNumber(v));
      budget -= rates.length;
    }
    if (dash !== undefined && init !== undefined) entry.initIndices = init;
    modules.push(entry);
  }
  // LoRA-Dash counts its pre-launch from when the inner method settles: after t for LoRA-Init's estimate in LoRA-TSD.
  const selectedAtStep = config.method === 'lora-tsd' ? 2 * config.t : config.t;
  return { selectedAtStep, modules };
}

/** True when every selection in `record` carries its change rates (LoRA-Dash captured at launch). */
export function hasChangeRates(record: TsdRecord | undefined): boolean {
  return record !== undefined && record.modules.length > 0 && record.modules.every((m) => m.changeRates.length > 0);
}
