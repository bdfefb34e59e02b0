import type { AdapterModel } from '@tsd-peft/tfjs';
import { jsonNumber, type RunConfig, type TsdModule, type TsdRecord } from '../report/schema.js';

/** Full spectra are kept while a run's total stays under this many numbers (about 100 KB of JSON). */
export const MAX_SPECTRUM_VALUES = 20_000;

/**
 * The directions a TSD method chose, per module, from the adapter model, with
 * their change rates (eq. 3 of Si et al.) and the whole spectrum while small:
 * LoRA-Dash's launched directions; LoRA-Init's initial directions (the rates
 * under its ΔW estimate); for LoRA-TSD the launched ones, plus the initial
 * indices. A run resumed from a checkpoint reports the same selections and
 * rates as an uninterrupted one. Undefined for methods that select nothing.
 */
export function tsdRecordOf(adapter: AdapterModel, config: RunConfig): TsdRecord | undefined {
  const selections = adapter.tsdSelections();
  if (selections.size === 0) return undefined;
  let budget = MAX_SPECTRUM_VALUES;
  const modules: TsdModule[] = [];
  for (const [module, info] of selections) {
    const dash = info.dashSelected === undefined ? undefined : Array.from(info.dashSelected);
    const init = info.initSelected === undefined ? undefined : Array.from(info.initSelected);
    // The headline selection is the launch once there is one, else LoRA-Init's. Rates are absent only
    // for a selection restored from a format-1 native file, which did not store them.
    const indices = dash ?? init ?? [];
    const rates = dash !== undefined ? info.dashRates : info.initRates;
    const entry: TsdModule = {
      module,
      indices,
      changeRates: rates === undefined ? [] : indices.map((i) => jsonNumber(rates[i] as number)),
    };
    if (rates !== undefined && rates.length <= budget) {
      entry.spectrum = Array.from(rates, (v) => jsonNumber(v));
      budget -= rates.length;
    }
    if (dash !== undefined && init !== undefined) entry.initIndices = init;
    modules.push(entry);
  }
  // The variants know when they selected (LoRA-TSD: t after LoRA-Init's re-init); every module selects at the same step.
  const selectedAtStep = Math.max(...[...selections.values()].map((info) => info.selectedAtStep ?? config.t));
  return { selectedAtStep, modules };
}
