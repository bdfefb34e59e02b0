import type { LayerVariable, layers } from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ConfigError } from '@tsd-peft/core';
import { AdapterRankError, NotDenseLayerError } from './errors.js';

/** Which layers get adapters: exact layer names, a RegExp tested on names, or a predicate. */
export type TargetLayers = readonly string[] | RegExp | ((layer: layers.Layer) => boolean);

/** Keras classes adapters fit, with the suffix of their [in, out] weight's name. */
const KERNEL_SUFFIX: Readonly<Record<string, string>> = { Dense: '/kernel', Embedding: '/embeddings' };

/** A validated target: the Dense or Embedding layer, its kernel ([in, out]; E [vocab, dim] for an Embedding) and its size. */
export interface DenseTarget {
  readonly layer: layers.Layer;
  readonly kernel: LayerVariable;
  readonly bias: LayerVariable | null;
  readonly inDim: number;
  readonly outDim: number;
}

/**
 * Resolves `targetLayers` against the model's top-level layers, in model
 * order, and checks each: a `Dense` or `Embedding` layer ({@link NotDenseLayerError}), built,
 * with r — and `s` when given — at most min(in, out) ({@link AdapterRankError}).
 * An unknown name or an empty selection is a {@link ConfigError} that lists the layers.
 */
export function resolveTargets(model: LayersModel, targets: TargetLayers, r: number, s: number | null): DenseTarget[] {
  const all = model.layers;
  const listing = () => all.map((l) => `${l.name} (${l.getClassName()})`).join(', ');
  let chosen: layers.Layer[];
  if (Array.isArray(targets)) {
    const names = targets as readonly string[];
    if (names.length === 0) throw new ConfigError('targetLayers is empty', { field: 'targetLayers' });
    const missing = names.filter((n) => !all.some((l) => l.name === n));
    if (missing.length > 0) {
      throw new ConfigError(`targetLayers names no layer called ${missing.map((n) => `'${n}'`).join(', ')}; layers: ${listing()}`, { field: 'targetLayers' });
    }
    chosen = all.filter((l) => names.includes(l.name));
  } else if (targets instanceof RegExp) {
    chosen = all.filter((l) => targets.test(l.name));
  } else {
    chosen = all.filter((l) => (targets as (layer: layers.Layer) => boolean)(l));
  }
  if (chosen.length === 0) throw new ConfigError(`targetLayers selected no layer; layers: ${listing()}`, { field: 'targetLayers' });
  return chosen.map((layer) => checkTarget(layer, r, s));
}

function checkTarget(layer: layers.Layer, r: number, s: number | null): DenseTarget {
  const suffix = KERNEL_SUFFIX[layer.getClassName()];
  if (suffix === undefined) {
    throw new NotDenseLayerError(`layer is a ${layer.getClassName()}, not a Dense layer; adapters wrap Dense (and Embedding) layers only`, {
      layer: layer.name,
    });
  }
  const kernel = layer.weights.find((w) => w.originalName.endsWith(suffix));
  if (kernel === undefined || kernel.shape.length !== 2) {
    throw new NotDenseLayerError(`${layer.getClassName()} layer has no 2-D weight *${suffix} (is the model built?)`, { layer: layer.name });
  }
  const [inDim, outDim] = kernel.shape as [number, number];
  const limit = Math.min(inDim, outDim);
  if (r > limit) {
    throw new AdapterRankError(`rank r = ${r} exceeds min(in, out) = ${limit} of the kernel`, { layer: layer.name, shape: [inDim, outDim] });
  }
  if (s !== null && s > limit) {
    throw new AdapterRankError(`LoRA-Dash s = ${s} exceeds min(in, out) = ${limit} of the kernel`, { layer: layer.name, shape: [inDim, outDim] });
  }
  const bias = layer.weights.find((w) => w.originalName.endsWith('/bias')) ?? null;
  return { layer, kernel, bias, inDim, outDim };
}
