/**
 * The one place that maps between the naming schemes of the ecosystem. The
 * canonical name of a linear module is its Hugging Face module path, e.g.
 * `model.layers.0.self_attn.q_proj`; everything else derives from it:
 *
 * | scheme | example |
 * |---|---|
 * | HF module path (canonical) | `model.layers.0.self_attn.q_proj` |
 * | HF weight | `model.layers.0.self_attn.q_proj.weight` |
 * | PEFT adapter tensor | `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` |
 * | tsd-peft native tensor | `base_model.model.model.layers.0.self_attn.q_proj.dash_U` |
 * | ONNX MatMul node (torch exporter) | `/model/layers.0/self_attn/q_proj/MatMul` |
 *
 * The ONNX rule: the TorchScript exporter names a node by its module scope,
 * one `/`-separated component per module, where a `ModuleList` element's
 * component is `<list>.<index>`; so dots become slashes except before a
 * numeric segment.
 */

/** The prefix PEFT puts before module paths in adapter files (`PeftModel.base_model.model`). */
export const PEFT_PREFIX = 'base_model.model.';

/** Which LoRA factor a PEFT key holds. */
export type LoraPart = 'lora_A' | 'lora_B';

/** A PEFT adapter tensor name split into its module and factor. */
export interface PeftKeyParts {
  module: string;
  part: LoraPart;
}

/** The HF weight name of a linear module: `<module>.weight`. */
export function weightName(module: string): string {
  return `${module}.weight`;
}

/** PEFT's adapter tensor name: `base_model.model.<module>.lora_A.weight`. */
export function peftKey(module: string, part: LoraPart): string {
  return `${PEFT_PREFIX}${module}.${part}.weight`;
}

/**
 * Splits a PEFT adapter tensor name into module and factor; undefined for
 * names that are not `base_model.model.<module>.lora_{A,B}.weight` (for
 * example DoRA magnitudes, embedding LoRA or `modules_to_save` copies).
 */
export function parsePeftKey(key: string): PeftKeyParts | undefined {
  const m = /^base_model\.model\.(.+)\.(lora_A|lora_B)\.weight$/.exec(key);
  if (m === null) return undefined;
  return { module: m[1] as string, part: m[2] as LoraPart };
}

/** PEFT's DoRA magnitude tensor name: `base_model.model.<module>.lora_magnitude_vector` (no `.weight`, as PEFT saves it). */
export function peftMagnitudeKey(module: string): string {
  return `${PEFT_PREFIX}${module}.lora_magnitude_vector`;
}

/** The module of a {@link peftMagnitudeKey} name, or undefined for any other name. */
export function parsePeftMagnitudeKey(key: string): string | undefined {
  return /^base_model\.model\.(.+)\.lora_magnitude_vector$/.exec(key)?.[1];
}

/** Tensor name of a tsd-peft native field: `base_model.model.<module>.<field>` (e.g. `dash_U`). */
export function nativeKey(module: string, field: string): string {
  return `${PEFT_PREFIX}${module}.${field}`;
}

/** ONNX MatMul node of a linear module: `model.layers.0.mlp.up_proj` → `/model/layers.0/mlp/up_proj/MatMul`. */
export function onnxMatMulNodeName(module: string): string {
  const segments = module.split('.');
  const scopes: string[] = [];
  for (const s of segments) {
    const last = scopes.length - 1;
    if (/^\d+$/.test(s) && last >= 0) scopes[last] = `${scopes[last] as string}.${s}`;
    else scopes.push(s);
  }
  return `/${scopes.join('/')}/MatMul`;
}

/**
 * Inverse of {@link onnxMatMulNodeName}: the module path a `…/MatMul` node's
 * scope names, or undefined for other nodes (`MatMul_1`, malformed scopes).
 * Weight-free MatMuls such as `/model/layers.0/self_attn/MatMul` (Q·Kᵀ) also
 * map to a path, so callers check the result against the model's linears.
 */
export function moduleFromOnnxNodeName(node: string): string | undefined {
  if (!node.startsWith('/') || !node.endsWith('/MatMul')) return undefined;
  const scopes = node.slice(1, -'/MatMul'.length).split('/');
  if (scopes.length === 0 || scopes.some((s) => !/^[^./]+(\.\d+)*$/.test(s))) return undefined;
  return scopes.join('.');
}
