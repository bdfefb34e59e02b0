import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ConfigError, Rng, initLoraWeights, type LoraInitMethod, type Matrix } from '@tsd-peft/core';
import { resolveAdapterConfig, type ResolvedAdapterConfig } from '../adapter-config.js';
import { isDenseMethod } from '../variants/registry.js';
import { AdapterDense, hasDash, hasResidual, LAYER_ADAPTER_METHODS, type AdapterDenseParts, type AdapterLayerState, type LayerAdapterMethod } from './adapter-dense.js';
import { AdapterEmbedding } from './adapter-embedding.js';
import { registerAdapterLayers } from './register.js';
import { AdapterStepCallback } from './step-callback.js';
import { readTransposed, transposed32 } from './keras-layout.js';
import { copyLayerWeights, rebuildModel } from './model-topology.js';
import { resolveTargets, type DenseTarget, type TargetLayers } from './target-layers.js';

/**
 * Data for LoRA-Init / LoRA-TSD's ΔW estimate: one batch whose negative
 * gradient −∂L/∂W (a step of full fine-tuning) picks the r directions with
 * the largest change rate (Si et al., arXiv 2409.01035, §4.1).
 */
export interface EstimateData {
  x: tf.Tensor | tf.Tensor[];
  y: tf.Tensor;
  /** Per-example or scalar loss (averaged), e.g. `tf.metrics.binaryCrossentropy`. */
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
}

/** Options of {@link applyAdapters}. */
export interface ApplyAdaptersOptions {
  method: LayerAdapterMethod;
  /** Dense or Embedding layers to adapt (top-level layers of the model): names, a RegExp on names, or a predicate. */
  targetLayers: TargetLayers;
  /** LoRA rank; default 8. */
  r?: number;
  /** lora_alpha; default 8, scaling = alpha / r (alpha / √r with rsLoRA). */
  alpha?: number;
  /** rsLoRA scaling; 'rslora' forces it. */
  useRslora?: boolean;
  /** Seed of A's random init (core's Rng); default 0. */
  seed?: number;
  /** LoRA-Dash / LoRA-TSD: optimizer steps before the launch; default 100. */
  t?: number;
  /** LoRA-Dash / LoRA-TSD: task-specific directions; default 8. */
  s?: number;
  /** Required by LoRA-Init / LoRA-TSD: the batch whose gradient estimates ΔW. */
  estimate?: EstimateData;
  /** Freeze every layer that gets no adapter (PEFT semantics); default true. */
  freezeBase?: boolean;
}

/** What {@link applyAdapters} returns. */
export interface AppliedAdapters {
  /** The new model: the input model with its target layers replaced by {@link AdapterDense} / {@link AdapterEmbedding}. */
  readonly model: LayersModel;
  /** Pass to `model.fit({ callbacks })`: counts optimizer steps and launches LoRA-Dash. */
  readonly callback: AdapterStepCallback;
  /** Names of the adapted layers, in model order. */
  readonly adapted: readonly string[];
}

/**
 * Adds LoRA-family adapters to the Dense (and Embedding) layers `targetLayers` picks in an
 * existing LayersModel (`tf.sequential`, `tf.model` or loaded), for LoRA,
 * rsLoRA, PiSSA, MiLoRA, LoRA-Dash, LoRA-Init and LoRA-TSD. Returns a new
 * model that computes the same outputs: LoRA-style inits start with B = 0,
 * SVD-based ones (PiSSA / MiLoRA / LoRA-Init) move scaling·B₀A₀ out of the
 * frozen kernel. Kernels and biases are frozen, A, B (and LoRA-Dash's d)
 * train; with `freezeBase` every other layer is frozen too. Compile the new
 * model, then `fit` it with the returned callback.
 *
 * Everything — targets, ranks, the initialisations (core's
 * `initLoraWeights`) — is validated and computed before the new model is
 * built, and the input model is never modified. Throws
 * {@link NotDenseLayerError}, {@link AdapterRankError} (r or s above
 * min(in, out)) or {@link ConfigError} (bad option, unknown layer, missing
 * `estimate`), each naming the layer or field.
 */
export async function applyAdapters(model: LayersModel, options: ApplyAdaptersOptions): Promise<AppliedAdapters> {
  if (isDenseMethod(options.method)) {
    throw new ConfigError(`method '${String(options.method)}' trains the weights themselves and has no adapter; train the model itself`, { field: 'method' });
  }
  if (!LAYER_ADAPTER_METHODS.includes(options.method)) {
    throw new ConfigError(`method '${String(options.method)}' has no Keras layer form; choose one of ${LAYER_ADAPTER_METHODS.join(', ')} (or use injectAdapters)`, { field: 'method' });
  }
  registerAdapterLayers();
  const cfg = resolveAdapterConfig({ ...options, targetModules: ['unused'] });
  const method = options.method;
  const targets = resolveTargets(model, options.targetLayers, cfg.r, hasDash(method) ? cfg.s : null);
  if ((method === 'lora-init' || method === 'lora-tsd') && options.estimate === undefined) {
    throw new ConfigError(`method '${method}' needs options.estimate (a batch x, y and a loss) to estimate ΔW`, { field: 'estimate' });
  }
  const estimates = method === 'lora-init' || method === 'lora-tsd' ? await gradientEstimates(model, targets, options.estimate as EstimateData) : null;
  const rng = Rng.fromSeed(cfg.seed);
  const inits: { target: DenseTarget; parts: AdapterDenseParts; selected?: Int32Array }[] = [];
  for (const target of targets) {
    const W = await readTransposed(target.kernel);
    const estimate = estimates?.get(target.layer.name);
    inits.push({ target, ...initialParts(W, method, cfg, rng, target.layer.name, estimate) });
  }

  const byName = new Map(inits.map((i) => [i.target.layer.name, i]));
  const adapted = await rebuildModel(model, (entry) => {
    const name = entry.config['name'];
    if (typeof name !== 'string' || !byName.has(name)) return null;
    // The Layer-level keys the entry had (tfjs's config parser rejects undefined values); the adapter
    // layer itself is trainable even when the layer it wraps was frozen (base keeps that flag for unloading).
    const layerKeys = Object.fromEntries(['dtype', 'batch_input_shape'].filter((k) => entry.config[k] != null).map((k) => [k, entry.config[k]]));
    const adapter: AdapterLayerState = {
      method,
      r: cfg.r,
      alpha: cfg.alpha,
      useRslora: cfg.useRslora,
      scaling: cfg.scaling,
      s: hasDash(method) ? cfg.s : 0,
      t: cfg.t,
      steps: 0,
      launched: false,
      dashSelected: [],
      dashRates: [],
      initSelected: [],
    };
    const config = { name, trainable: true, ...layerKeys, base: entry.config, adapter };
    const className = entry.class_name === 'Embedding' ? AdapterEmbedding.className : AdapterDense.className;
    return { ...entry, class_name: className, config: config as unknown as tf.serialization.ConfigDict };
  });
  try {
    copyLayerWeights(model, adapted, new Set(byName.keys()));
    for (const { target, parts, selected } of inits) {
      const layer = adapted.getLayer(target.layer.name) as AdapterDense;
      layer.setParts(parts, target.bias?.read() ?? null, selected);
    }
    if (options.freezeBase ?? true) {
      for (const layer of adapted.layers) if (!(layer instanceof AdapterDense)) layer.trainable = false;
    }
  } catch (err) {
    adapted.dispose();
    throw err;
  }
  return { model: adapted, callback: new AdapterStepCallback(), adapted: targets.map((t) => t.layer.name) };
}

/** The layer's starting values from core's initialiser, in [out, in] layout. */
function initialParts(
  W: Matrix<Float32Array>,
  method: LayerAdapterMethod,
  cfg: ResolvedAdapterConfig,
  rng: Rng,
  name: string,
  estimate: Matrix | undefined,
): { parts: AdapterDenseParts; selected?: Int32Array } {
  const initMethod: LoraInitMethod = method === 'pissa' || method === 'milora' ? method : hasResidual(method) ? 'lora-init' : 'lora';
  const result = initLoraWeights(W, {
    r: cfg.r,
    alpha: cfg.alpha,
    useRslora: cfg.useRslora,
    method: initMethod,
    rng,
    name,
    ...(estimate === undefined ? {} : { estimate }),
  });
  if (result.residual === undefined) return { parts: { frozen: W, factors: result.factors } };
  return {
    parts: { frozen: result.residual, factors: result.factors, init: result.factors },
    ...(result.selected === undefined ? {} : { selected: result.selected }),
  };
}

/**
 * ΔŴ = −∂L/∂W [out, in] for every target kernel, from one forward/backward
 * of the unmodified model on the estimate batch (nothing is updated).
 */
async function gradientEstimates(model: LayersModel, targets: readonly DenseTarget[], data: EstimateData): Promise<Map<string, Matrix>> {
  const kernels = targets.map((t) => t.kernel.read() as tf.Variable);
  const frozen = targets.filter((t) => !t.kernel.trainable);
  if (frozen.length > 0) {
    throw new ConfigError(`the gradient estimate needs trainable kernels; frozen: ${frozen.map((t) => t.layer.name).join(', ')}`, { field: 'estimate' });
  }
  const { value, grads } = tf.variableGrads(() => tf.tidy(() => tf.mean(data.loss(data.y, model.apply(data.x, { training: true }) as tf.Tensor)) as tf.Scalar), kernels);
  const out = new Map<string, Matrix>();
  try {
    for (const [i, t] of targets.entries()) {
      const g = grads[(kernels[i] as tf.Variable).name];
      if (g === undefined || g === null) throw new ConfigError('the estimate loss does not depend on this layer', { layer: t.layer.name });
      // await data(), not dataSync(): the gradient may live on a GPU.
      const neg = Float32Array.from(await g.data(), (v) => -v);
      out.set(t.layer.name, transposed32({ rows: t.inDim, cols: t.outDim, data: neg }));
    }
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
  return out;
}
