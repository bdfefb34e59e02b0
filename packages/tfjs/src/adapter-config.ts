import { ConfigError, defaultSvdCache, loraScalingFor, type SvdCache } from '@tsd-peft/core';
import { ADAPTER_METHODS, type AdapterMethod } from './variants/registry.js';

export type { AdapterMethod } from './variants/registry.js';

/**
 * How LoRA-Init / LoRA-TSD estimate ΔW before choosing their directions:
 * 'prelaunch' (default) trains plain LoRA for `initSteps` optimizer steps and
 * uses its scaling·B·A, the same signal LoRA-Dash's pre-launch uses;
 * 'gradient' uses −Σ ∂L/∂W over batches the caller feeds to
 * `AdapterModel.estimateInitFromGradients` before training.
 */
export type InitEstimate = 'prelaunch' | 'gradient';

/**
 * The one source of adapter defaults, PEFT's `LoraConfig` ones where PEFT has
 * them (`r` 8, `lora_alpha` 8, `target_modules` q_proj/v_proj for Llama) and
 * the official LoRA-Dash code's otherwise (`t` 100, `s` 8). The library, the
 * `tsd-peft` CLI and the bench read them from here; the bench alone sets
 * alpha = 2·r on purpose (see its README).
 */
export const ADAPTER_DEFAULTS: Readonly<{
  r: number;
  alpha: number;
  targetModules: readonly string[];
  t: number;
  s: number;
  seed: number;
  initEstimate: InitEstimate;
}> = Object.freeze({
  r: 8,
  alpha: 8,
  targetModules: Object.freeze(['q_proj', 'v_proj']),
  t: 100,
  s: 8,
  seed: 0,
  initEstimate: 'prelaunch',
});

/**
 * Adapter configuration, in PEFT's vocabulary where PEFT has a word for it.
 */
export interface AdapterConfig {
  method: AdapterMethod;
  /** LoRA rank (PEFT `r`); default 8. */
  r?: number;
  /** PEFT `lora_alpha`; default 8 (PEFT's default), so scaling = alpha / r. */
  alpha?: number;
  /**
   * Which 2-D weights get adapters, matched against module paths (the weight
   * name without `.weight`): a list of names matched exactly or as a
   * `.`-suffix (PEFT's list semantics), a RegExp tested on the module path, or
   * 'all-linear' (every 2-D weight except embeddings and `lm_head`). Default
   * `['q_proj', 'v_proj']`, PEFT's default for Llama.
   */
  targetModules?: readonly string[] | RegExp | 'all-linear';
  /** rsLoRA scaling alpha / √r (Kalajdzievski 2023); default false ('rslora' forces it). */
  useRslora?: boolean;
  /** Seed of the random initialisations (core's `Rng`); default 0. */
  seed?: number;
  /** LoRA-Dash pre-launch length in optimizer steps; default 100 (the official code's warmup). */
  t?: number;
  /** LoRA-Dash number of task-specific directions; default 8 (the official `index`). */
  s?: number;
  /** LoRA-Init / LoRA-TSD ΔW estimate; default 'prelaunch'. */
  initEstimate?: InitEstimate;
  /** LoRA-Init / LoRA-TSD pre-launch length (optimizer steps) for the 'prelaunch' estimate; default `t`. */
  initSteps?: number;
  /** Cache of SVDs of frozen weights; default core's `defaultSvdCache`. */
  svdCache?: SvdCache;
  /**
   * Keep an [in, out] copy of each frozen weight so the forward runs no
   * transposed matMul. Default: only on wasm with TF.js's stock matmul
   * (`prefersPretransposedWeights`); with the package's wasm kernel the copy
   * pays off only for few-row products (token-by-token generation).
   */
  pretransposeFrozen?: boolean;
}

/** {@link AdapterConfig} with every default filled in and validated. */
export interface ResolvedAdapterConfig {
  readonly method: AdapterMethod;
  readonly r: number;
  readonly alpha: number;
  readonly targetModules: readonly string[] | RegExp | 'all-linear';
  readonly useRslora: boolean;
  /** alpha / r, or alpha / √r with rsLoRA. */
  readonly scaling: number;
  readonly seed: number;
  readonly t: number;
  readonly s: number;
  readonly initEstimate: InitEstimate;
  readonly initSteps: number;
  readonly svdCache: SvdCache;
  readonly pretransposeFrozen: boolean | undefined;
}

/**
 * Fills defaults and validates a config. Throws {@link ConfigError} naming
 * the field for an unknown method, a non-positive or non-integer r/t/s, a
 * non-positive alpha, or an unknown estimate.
 */
export function resolveAdapterConfig(config: AdapterConfig): ResolvedAdapterConfig {
  if (!ADAPTER_METHODS.includes(config.method)) {
    throw new ConfigError(`unknown method '${String(config.method)}'; choose one of ${ADAPTER_METHODS.join(', ')}`, { field: 'method' });
  }
  const r = config.r ?? ADAPTER_DEFAULTS.r;
  const alpha = config.alpha ?? ADAPTER_DEFAULTS.alpha;
  const t = config.t ?? ADAPTER_DEFAULTS.t;
  const s = config.s ?? ADAPTER_DEFAULTS.s;
  positiveInteger(r, 'r');
  positiveInteger(t, 't');
  positiveInteger(s, 's');
  const initSteps = config.initSteps ?? t;
  positiveInteger(initSteps, 'initSteps');
  if (!Number.isFinite(alpha) || alpha <= 0) throw new ConfigError(`alpha must be a positive number, got ${alpha}`, { field: 'alpha' });
  const seed = config.seed ?? ADAPTER_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new ConfigError(`seed must be an integer, got ${seed}`, { field: 'seed' });
  const initEstimate = config.initEstimate ?? ADAPTER_DEFAULTS.initEstimate;
  if (initEstimate !== 'prelaunch' && initEstimate !== 'gradient') {
    throw new ConfigError(`initEstimate must be 'prelaunch' or 'gradient', got '${String(initEstimate)}'`, { field: 'initEstimate' });
  }
  const targetModules = config.targetModules ?? ADAPTER_DEFAULTS.targetModules;
  if (Array.isArray(targetModules) && targetModules.length === 0) {
    throw new ConfigError('targetModules is empty', { field: 'targetModules' });
  }
  const useRslora = config.method === 'rslora' ? true : (config.useRslora ?? false);
  return {
    method: config.method,
    r,
    alpha,
    targetModules,
    useRslora,
    scaling: loraScalingFor(r, alpha, useRslora),
    seed,
    t,
    s,
    initEstimate,
    initSteps,
    svdCache: config.svdCache ?? defaultSvdCache,
    pretransposeFrozen: config.pretransposeFrozen,
  };
}

function positiveInteger(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${field} must be a positive integer, got ${v}`, { field: field });
}
