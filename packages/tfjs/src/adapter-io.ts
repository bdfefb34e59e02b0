import { ConfigError, createPeftAdapter, type LoraFactors, type NativeAdapter, type PeftAdapter, type JsonObject } from '@tsd-peft/core';
import type { AdapterConfig } from './adapter-config.js';
import { injectAdapters, type AdapterModel } from './adapter-model.js';
import { loadRecordsOrRollBack } from './adapter-slot.js';
import type { BaseWeight } from './base-weight.js';
import { variantFor, variantForPeftConfig } from './variants/registry.js';

/**
 * Import and export of adapters: PEFT's format (plain LoRA relative to the
 * original weights, what every LoRA consumer loads) and core's lossless
 * native format (what resuming a LoRA-Dash / LoRA-Init run needs).
 */

/** Options of {@link toPeftAdapter}. */
export interface PeftExportOptions {
  /** `base_model_name_or_path` written into the config. */
  baseModel?: string;
  /** `fan_in_fan_out` written into the config: true for GPT-2's Conv1D targets, as Python PEFT writes it (the factors are the same). */
  fanInFanOut?: boolean;
}

/**
 * The model's adapters as a PEFT LoRA adapter whose ΔW is relative to the
 * *original* weights, so it loads on the untouched base model. Methods PEFT
 * knows (LoRA, rsLoRA, DoRA: a variant's `peft` form) export in their own
 * form — factors, scaling, DoRA's magnitudes and `use_dora`; every other method goes
 * through core's `toPlainLora` (scaling 1, rank r, + r for PiSSA / MiLoRA /
 * LoRA-Init whose residual moved W, + s for a launched dash term; full
 * fine-tuning gives rank min(out, in)). Per-module ranks and scalings land in
 * `rank_pattern` / `alpha_pattern` when they differ.
 */
export function toPeftAdapter(model: AdapterModel, options: PeftExportOptions = {}): PeftAdapter {
  const peft = variantFor(model.config.method).peft;
  const modules = new Map<string, LoraFactors>();
  const magnitudes = new Map<string, Float32Array>();
  for (const [name, slot] of model.slotEntries()) {
    const m = slot.variant.peft?.save(slot.state, slot.ctx) ?? { factors: slot.plainLora() };
    modules.set(name, m.factors);
    if (m.magnitude !== undefined) magnitudes.set(name, m.magnitude);
  }
  const names = [...modules.keys()];
  const suffixes = [...new Set(names.map((n) => n.split('.').pop() as string))];
  const selectsExactly = names.length === 0 || suffixes.every((suf) => names.some((n) => n.endsWith(`.${suf}`) || n === suf));
  return createPeftAdapter(
    modules,
    {
      r: model.config.r,
      lora_alpha: peft !== undefined ? model.config.alpha : model.config.r,
      use_rslora: peft !== undefined && model.config.useRslora,
      target_modules: selectsExactly ? suffixes : names,
      base_model_name_or_path: options.baseModel ?? null,
      ...(options.fanInFanOut === true ? { fan_in_fan_out: true } : {}),
      ...peft?.config,
    },
    magnitudes.size > 0 ? magnitudes : undefined,
  );
}

/**
 * Sets the factors of the adapted modules from a PEFT adapter (trained in
 * Python or exported here). Every adapter module must be adapted in the
 * model; ranks may differ from the model's r. Only for methods whose frozen
 * weight is the original W (lora, rslora, dora, lora-dash before launch, full),
 * since a PEFT adapter is relative to the original W. A DoRA adapter
 * (`use_dora`) loads only into a method with a PEFT DoRA form. Throws
 * {@link ConfigError} otherwise, naming the module.
 */
export function loadPeftAdapter(model: AdapterModel, adapter: PeftAdapter): void {
  const slots = new Map(model.slotEntries());
  const wanted = variantForPeftConfig(adapter.config as unknown as Record<string, unknown>);
  for (const [name, factors] of adapter.modules) {
    const slot = slots.get(name);
    if (slot === undefined) {
      throw new ConfigError(`adapter module is not adapted in this model (adapted: ${[...slots.keys()].join(', ')})`, { tensor: name });
    }
    if (!slot.ctx.frozen.isBase) {
      throw new ConfigError(`method '${slot.variant.name}' trains on a residual weight; a PEFT adapter (relative to W) cannot be loaded into it`, {
        tensor: name,
      });
    }
    const magnitude = adapter.magnitudes?.get(name);
    if (magnitude !== undefined && slot.variant.peft?.config.use_dora !== true) {
      throw new ConfigError(`a DoRA adapter (use_dora) cannot be loaded into method '${slot.variant.name}'; inject it as '${wanted?.name ?? 'dora'}'`, {
        tensor: name,
      });
    }
    slot.loadPeft({ factors, ...(magnitude === undefined ? {} : { magnitude }) });
  }
}

/**
 * A new model carrying a PEFT adapter: the method its config describes
 * ('lora', 'rslora' for `use_rslora`, 'dora' for `use_dora`), its target modules, r and alpha, then
 * {@link loadPeftAdapter}. The usual way to run a Python-trained adapter.
 */
export function injectPeftAdapter(weights: ReadonlyMap<string, BaseWeight>, adapter: PeftAdapter, overrides: Partial<AdapterConfig> = {}): AdapterModel {
  const model = injectAdapters(weights, {
    method: variantForPeftConfig(adapter.config as unknown as Record<string, unknown>)?.name ?? 'lora',
    useRslora: adapter.config.use_rslora,
    r: adapter.config.r,
    alpha: adapter.config.lora_alpha,
    targetModules: [...adapter.modules.keys()],
    ...overrides,
  });
  try {
    loadPeftAdapter(model, adapter);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** Options of {@link toNativeAdapter}. */
export interface NativeExportOptions {
  baseModel?: string;
  /** Extra JSON kept verbatim (e.g. training step, hyperparameters). */
  extra?: JsonObject;
}

/**
 * The model's lossless state in core's native adapter format: per module the
 * record its variant keeps (`Variant.saveState`: the factors, LoRA-Init's
 * initial factors, LoRA-Dash's launch state, DoRA's magnitude, or whatever a
 * registered method keeps). Throws {@link ConfigError} for full fine-tuning (use mergeAndUnload).
 */
export function toNativeAdapter(model: AdapterModel, options: NativeExportOptions = {}): NativeAdapter {
  const modules = new Map([...model.slotEntries()].map(([name, slot]) => [name, slot.saveRecord()] as const));
  return {
    modules,
    ...(options.baseModel !== undefined ? { baseModel: options.baseModel } : {}),
    ...(options.extra !== undefined ? { extra: options.extra } : {}),
  };
}

/**
 * Restores a native adapter into a model injected with the same method and
 * targets (rebuilding residual weights and dash terms). Throws
 * {@link ConfigError} when the module sets or methods differ.
 */
export function loadNativeAdapter(model: AdapterModel, adapter: NativeAdapter): void {
  const slots = new Map(model.slotEntries());
  const missing = [...slots.keys()].filter((n) => !adapter.modules.has(n));
  const extra = [...adapter.modules.keys()].filter((n) => !slots.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new ConfigError(`native adapter modules differ from the model's (missing: ${missing.join(', ') || 'none'}; not adapted: ${extra.join(', ') || 'none'})`, { field: 'modules' });
  }
  loadRecordsOrRollBack(slots, adapter.modules);
}
