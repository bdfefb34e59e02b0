import { changeRates, svdDims, type ChangeRates } from './change-rates.js';
import { ConfigError, ShapeError } from './errors.js';
import { gaussianFactors, kaimingUniformFactors } from './init-random.js';
import { svdDirectionFactors } from './init-svd.js';
import { loraScalingFor, type LoraFactors } from './lora-factors.js';
import { assertFinite, type Matrix } from './matrix.js';
import type { Rng } from './random.js';
import { defaultSvdCache } from './svd-cache.js';
import type { SvdResult } from './svd-types.js';
import { selectTaskSpecificDirections } from './tsd-selection.js';

/** The initialisations {@link initLoraWeights} supports. */
export type LoraInitMethod = 'lora' | 'gaussian' | 'pissa' | 'milora' | 'lora-init';

/**
 * How the trainer estimates ΔW for LoRA-Init (core only consumes the
 * result): 'prelaunch' — ΔW = scaling·B·A after a short plain-LoRA run, the
 * same signal LoRA-Dash's pre-launch phase uses (the default); 'gradient' —
 * the accumulated negative gradient −Σ ∂L/∂W over k batches (one step of
 * full fine-tuning, without training any adapter).
 */
export type LoraInitEstimate = 'prelaunch' | 'gradient';

/** Options of {@link initLoraWeights}. */
export interface LoraInitOptions {
  /** LoRA rank, 1 ≤ r ≤ min(out, in). */
  r: number;
  /** lora_alpha; scaling = alpha/r (or alpha/√r with rsLoRA). Must be > 0. */
  alpha: number;
  useRslora?: boolean;
  method: LoraInitMethod;
  /** Required for 'lora' and 'gaussian' (there is no hidden default seed). */
  rng?: Rng;
  /** A precomputed SVD of W; when omitted, the exact SVD from `defaultSvdCache` (computed once per W content). */
  svd?: SvdResult;
  /** Required for 'lora-init': the estimated ΔW, as LoRA factors or dense [out, in]. */
  estimate?: LoraFactors | Matrix;
  /** Module name for error messages. */
  name?: string;
}

/** What {@link initLoraWeights} returns. */
export interface LoraInitResult {
  readonly factors: LoraFactors;
  /** The residual W' = W − scaling·B·A that replaces W (SVD-based methods only). */
  readonly residual?: Matrix<Float32Array>;
  /** The singular-direction indices used, in column order of B (SVD-based methods only). */
  readonly selected?: Int32Array;
  /** The singular values σ of W, descending (a copy; SVD-based methods only). */
  readonly sigma?: Float64Array;
  /**
   * 'lora-init' only: the change rate of every direction of W under the
   * estimate (eq. (3) of Si et al.), by which `selected` was chosen — so
   * callers that record them need not recompute them.
   */
  readonly changeRates?: ChangeRates;
}

/**
 * Initialises the LoRA factors of one module with weight W [out, in]:
 * - 'lora': A ~ U(−1/√in, 1/√in) (PEFT's kaiming_uniform_(a=√5)), B = 0;
 * - 'gaussian': A ~ N(0, (1/r)²) as PEFT's `init_lora_weights="gaussian"`, B = 0;
 * - 'pissa': the top-r singular directions (Meng et al. 2024), with residual;
 * - 'milora': the bottom-r singular directions (Wang et al. 2024), with residual;
 * - 'lora-init': the r task-specific directions — largest change rate
 *   δᵢ = |uᵢᵀ ΔŴ vᵢ| / σᵢ under the estimate ΔŴ — built like PiSSA (Si et
 *   al., arXiv 2409.01035, "LoRA-Init": initialise LoRA with the directions
 *   that need the most adjustment).
 * LoRA-TSD is LoRA-Init followed by LoRA-Dash; the tfjs layer composes them.
 * Throws {@link ShapeError} (r out of range, SVD/estimate shape),
 * {@link NonFiniteError} (NaN/Inf in W) and {@link ConfigError} (missing rng
 * or estimate, bad alpha), each naming the module.
 */
export function initLoraWeights(W: Matrix, options: LoraInitOptions): LoraInitResult {
  const name = options.name ?? 'weight';
  const { r, alpha, method } = options;
  const out = W.rows;
  const inDim = W.cols;
  if (W.data.length !== out * inDim) {
    throw new ShapeError(`weight buffer holds ${W.data.length} elements`, { tensor: name, shape: [out, inDim] });
  }
  if (!Number.isInteger(r) || r < 1 || r > Math.min(out, inDim)) {
    throw new ShapeError(`rank r = ${r} must be an integer in [1, min(out, in) = ${Math.min(out, inDim)}]`, {
      tensor: name,
      shape: [out, inDim],
    });
  }
  if (!Number.isFinite(alpha) || alpha <= 0) {
    throw new ConfigError(`lora_alpha must be a positive finite number, got ${alpha}`, { tensor: name });
  }
  assertFinite(W, name);
  const scaling = loraScalingFor(r, alpha, options.useRslora ?? false);

  if (method === 'lora' || method === 'gaussian') {
    if (options.rng === undefined) {
      throw new ConfigError(`init method '${method}' needs options.rng (e.g. Rng.fromSeed(seed))`, { tensor: name });
    }
    const build = method === 'lora' ? kaimingUniformFactors : gaussianFactors;
    return { factors: build(out, inDim, r, scaling, options.rng) };
  }
  if (method !== 'pissa' && method !== 'milora' && method !== 'lora-init') {
    throw new ConfigError(`unknown init method '${String(method)}'`, { tensor: name });
  }
  if (method === 'lora-init' && options.estimate === undefined) {
    throw new ConfigError("init method 'lora-init' needs options.estimate (an estimate of ΔW)", { tensor: name });
  }
  const svd = options.svd ?? defaultSvdCache.get(W, name);
  const { k } = checkSvdFor(svd, W, name);
  let selected: Int32Array;
  let rates: ChangeRates | undefined;
  if (method === 'pissa') {
    if (k < r) throw new ShapeError(`SVD holds ${k} directions, need r = ${r}`, { tensor: `${name}.svd`, shape: [k] });
    selected = Int32Array.from({ length: r }, (_, j) => j);
  } else if (method === 'milora') {
    // The bottom directions are only meaningful in a full (not truncated) SVD.
    if (k !== Math.min(out, inDim)) {
      throw new ShapeError(`MiLoRA needs a full SVD (k = ${Math.min(out, inDim)}), got k = ${k}`, { tensor: `${name}.svd`, shape: [k] });
    }
    selected = Int32Array.from({ length: r }, (_, j) => k - r + j);
  } else {
    rates = changeRates(svd, options.estimate as LoraFactors | Matrix, `${name}.estimate`);
    selected = selectTaskSpecificDirections(rates, r, `${name}.change_rate`);
  }
  const { factors, residual } = svdDirectionFactors(W, svd, selected, scaling);
  const sigma = Float64Array.from(svd.S);
  return rates === undefined ? { factors, residual, selected, sigma } : { factors, residual, selected, sigma, changeRates: rates };
}

function checkSvdFor(svd: SvdResult, W: Matrix, name: string): { k: number } {
  const { out, inDim, k } = svdDims(svd, name);
  if (out !== W.rows || inDim !== W.cols) {
    throw new ShapeError(`SVD is of a [${out}, ${inDim}] matrix but the weight is [${W.rows}, ${W.cols}]`, {
      tensor: `${name}.svd`,
      shape: [out, inDim],
    });
  }
  return { k };
}
