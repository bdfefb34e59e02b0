import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ConfigError, createPeftAdapter, toPlainLora, type LoraFactors, type PeftAdapter } from '@tsd-peft/core';
import { AdapterEmbedding } from './adapter-embedding.js';
import { adapterLayers } from './step-callback.js';

/** Options of {@link toPeftAdapter}. */
export interface LayersPeftExportOptions {
  /** `base_model_name_or_path` written into the config. */
  baseModel?: string;
}

/**
 * The model's adapters as a PEFT LoRA adapter keyed by layer name
 * (`base_model.model.<layer>.lora_{A,B}.weight`, A [r, in], B [out, r] as
 * PEFT stores them), relative to the *original* Dense kernels, so it applies
 * to the untouched model. LoRA / rsLoRA keep their factors and alpha; the
 * others go through core's `toPlainLora` (scaling 1; rank r, + r when the
 * init moved W, + s for a launched dash term). Write it with core's
 * `serializePeftAdapter` or `savePeftAdapter` (`@tsd-peft/core/node`).
 * Throws {@link ConfigError} for an adapted Embedding layer.
 */
export async function toPeftAdapter(model: LayersModel, options: LayersPeftExportOptions = {}): Promise<PeftAdapter> {
  const layers = adapterLayers(model);
  const modules = new Map<string, LoraFactors>();
  let plainMethod = true;
  for (const layer of layers) {
    if (layer instanceof AdapterEmbedding) {
      throw new ConfigError("PEFT stores embedding adapters as lora_embedding_A/B, which core's PEFT writer does not support; use mergeAndUnload", {
        layer: layer.name,
      });
    }
    const { method } = layer.adapter;
    const parts = await layer.parts();
    const plain = method === 'lora' || method === 'rslora';
    plainMethod &&= plain;
    modules.set(layer.name, plain ? parts.factors : toPlainLora({ ...parts, name: layer.name }));
  }
  const first = layers[0]?.adapter;
  return createPeftAdapter(modules, {
    r: first?.r ?? 8,
    lora_alpha: plainMethod ? (first?.alpha ?? 8) : (first?.r ?? 8),
    use_rslora: plainMethod && (first?.useRslora ?? false),
    target_modules: [...modules.keys()],
    base_model_name_or_path: options.baseModel ?? null,
  });
}
