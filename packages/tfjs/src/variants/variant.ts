import type * as tf from '@tensorflow/tfjs-core';
import type { DashTerm, LoraAdapterConfig, LoraFactors, Matrix, Rng, StateRecord, SvdResult } from '@tsd-peft/core';
import type { ResolvedAdapterConfig } from '../adapter-config.js';
import type { AdapterMethod } from './registry.js';
import type { FrozenWeight } from '../frozen-weight.js';
import type { LoraBranch } from './lora-branch.js';

/**
 * What a variant may touch for one adapted module. The adapter model builds
 * one per module; variants never see other modules or the trainer.
 */
export interface ModuleContext {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly name: string;
  readonly config: ResolvedAdapterConfig;
  /** The frozen weight the forward uses: W, or a residual W' after an SVD-based init (fp32 or reduced precision). */
  readonly frozen: FrozenWeight;
  /** A float32 copy of the original pretrained W [out, in] (never the residual; decoded exactly when held in reduced precision). */
  original(): Matrix<Float32Array>;
  /**
   * The tensors {@link ModuleContext.original} reads (borrowed; do not
   * dispose): the fp32 W, or a reduced W's codes and scales, for awaiting
   * their values on a GPU.
   */
  originalTensors(): tf.Tensor[];
  /** The model's random stream (modules draw from it in natural module order at injection). */
  readonly rng: Rng;
  /** The exact SVD of a weight, through the configured cache (keyed by content). */
  svd(w: Matrix, name?: string): SvdResult;
  /**
   * Creates a trainable variable listed by the model as `${name}.${key}`
   * (e.g. `…q_proj.lora_A.weight`). The model owns and disposes it.
   */
  createVariable(key: string, value: tf.Tensor): tf.Variable;
  /** The variable created under `key`, if any. */
  variable(key: string): tf.Variable | undefined;
  /** Disposes the variable under `key` and drops it from the trainable set (no-op if absent). */
  removeVariable(key: string): void;
  /**
   * Asks the trainer to drop the optimizer state of these variables (their
   * values were re-initialised); surfaced by `AdapterModel.consumeResetRequests()`.
   */
  requestOptimizerReset(keys: readonly string[]): void;
}

/**
 * An adapter as plain LoRA pieces: the trainable factors (scaling·B·A, relative
 * to the frozen weight in use), the initial factors that were subtracted from
 * W to form that frozen residual (PiSSA / MiLoRA / LoRA-Init), and a launched
 * LoRA-Dash term. core's `toPlainLora` turns these into one LoRA relative to
 * the original W; `mergeLora` folds `factors` + `dash` into the frozen weight.
 */
export interface AdapterParts {
  readonly factors: LoraFactors;
  readonly init?: LoraFactors;
  readonly dash?: DashTerm;
}

/** One module as a PEFT adapter stores it: factors relative to the original W, and DoRA's magnitude. */
export interface PeftModule {
  readonly factors: LoraFactors;
  /** DoRA's m [out] (`lora_magnitude_vector`). */
  readonly magnitude?: Float32Array;
}

/**
 * A method PEFT has a native form for (LoRA, rsLoRA, DoRA): the
 * `adapter_config.json` fields that mark it — written on export, matched on
 * import to pick the method — and how a module maps to PEFT's tensors.
 * Methods without one export as plain LoRA through core's `toPlainLora`.
 */
export interface PeftForm<S> {
  readonly config: Readonly<Partial<LoraAdapterConfig>>;
  /** The module in PEFT's form. */
  save(s: S, ctx: ModuleContext): PeftModule;
  /** Loads a PEFT module (relative to the original W). */
  load(m: PeftModule, s: S, ctx: ModuleContext): S;
}

/** Directions chosen by a TSD method, as indices into W's descending singular values. */
export interface TsdInfo {
  /** LoRA-Init: the r directions A/B were initialised from, by descending change rate. */
  readonly initSelected?: Int32Array;
  /** LoRA-Init: the change rates of all directions under the ΔW estimate (absent when restored from a format-1 file). */
  readonly initRates?: Float64Array;
  /** LoRA-Dash: the s launched directions, by descending change rate. */
  readonly dashSelected?: Int32Array;
  /** LoRA-Dash: the change rates of all directions at launch (absent when restored from a format-1 file). */
  readonly dashRates?: Float64Array;
  /** The singular values of the original W, descending: the σᵢ both selections divide by. */
  readonly sigma?: Float64Array;
  /**
   * Completed optimizer steps after which the headline selection (the dash
   * launch once there is one, else the initial directions) was made.
   */
  readonly selectedAtStep?: number;
}

/**
 * One fine-tuning method (DESIGN.md "Variants: one method, one file"): a
 * state `S` per module and a few hooks. Adding a method means one file in
 * `variants/` and one line in `registry.ts`.
 */
export interface Variant<S> {
  readonly name: AdapterMethod;
  /** Creates the module's variables (and may replace the frozen weight by a residual). */
  init(ctx: ModuleContext): S;
  /**
   * The term added to x·Wᵀ for x [n, in], or null for none: the reference
   * semantics, also used when a wrapper (LoRA-Dash) cannot fuse the variant.
   */
  forward(x: tf.Tensor2D, s: S, ctx: ModuleContext): tf.Tensor2D | null;
  /**
   * The LoRA branch, when the variant's forward term is exactly that branch
   * (LoRA, rsLoRA, PiSSA, MiLoRA, LoRA-Init), so LoRA-Dash can fuse its term
   * into the same low-rank products.
   */
  loraBranch?(s: S): LoraBranch;
  /**
   * The whole module output, when the variant computes it itself instead of
   * x·Wᵀ + {@link Variant.forward}: LoRA-family variants fold their factors
   * into the weight in one fused op; full fine-tuning uses its trained W.
   */
  output?(x: tf.Tensor2D, s: S, ctx: ModuleContext): tf.Tensor2D;
  /** Runs after each optimizer step with the number of completed steps (1-based). */
  afterStep?(completedSteps: number, s: S, ctx: ModuleContext): S;
  /**
   * The tensors {@link Variant.afterStep} will read synchronously at this step
   * (none when it only counts), so a trainer on a GPU backend can await them first.
   */
  hostReadsAfterStep?(completedSteps: number, s: S, ctx: ModuleContext): tf.Tensor[];
  /**
   * Completed optimizer steps after which the variant's own structure is final
   * (LoRA-Init with the 'prelaunch' estimate re-initialises at `initSteps`);
   * 0 when it is final from the start. LoRA-Dash counts its pre-launch from here.
   */
  settledAfter?(s: S, ctx: ModuleContext): number;
  /**
   * The merged weight W + ΔW [out, in] (PEFT's `merge`); absent: core's
   * `mergeLora` of {@link Variant.parts} into the frozen weight in use.
   */
  merge?(s: S, ctx: ModuleContext): Matrix<Float32Array>;
  /** PEFT's native form of this method, if PEFT has one (see {@link PeftForm}). */
  readonly peft?: PeftForm<S>;
  /** The adapter as plain LoRA pieces (see {@link AdapterParts}). */
  parts(s: S, ctx: ModuleContext): AdapterParts;
  /** Sets the trainable factors (e.g. from a PEFT adapter), relative to the frozen weight in use. */
  setFactors(factors: LoraFactors, s: S, ctx: ModuleContext): S;
  /**
   * The module's lossless state as a record of its own: named F32 / F64
   * tensors and JSON meta (core's `StateRecord`; the LoRA family's parts come
   * from core's `loraFactorsRecord`, `dashRecord`, `initRecord`). One encoder
   * stores it in native adapter files and in trainer checkpoints alike.
   * Absent for a method whose whole state is its variables and that has no
   * native-adapter form (full fine-tuning: keep its weights with `mergeAndUnload()`).
   */
  saveState?(s: S, ctx: ModuleContext): StateRecord;
  /**
   * Restores {@link Variant.saveState} output (from a native file or a
   * checkpoint, possibly written by an older version), recreating variables
   * and residuals as needed; checks the record against the module and throws
   * core's typed errors naming the tensor or field.
   */
  loadState?(record: StateRecord, s: S, ctx: ModuleContext): S;
  /**
   * True when the method trains the targeted weights themselves (full
   * fine-tuning): no rank or alpha, every linear targeted by default
   * ('all-linear'), and a weight gradient per linear in FLOP counts.
   */
  readonly dense?: boolean;
  /**
   * The `#rrggbb` colour reports draw this method in (the bench's charts);
   * absent: a colour picked from a fixed palette by registry position.
   */
  readonly color?: string;
  /**
   * Re-initialises from a dense ΔW estimate (LoRA-Init's 'gradient' estimate);
   * absent for methods that take none.
   */
  applyEstimate?(estimate: Matrix, s: S, ctx: ModuleContext): S;
  /** The directions the method selected so far, for reports and plots. */
  tsdInfo?(s: S, ctx: ModuleContext): TsdInfo;
  /** Frees tensors the state owns beyond the model-owned variables. */
  dispose?(s: S, ctx: ModuleContext): void;
}

/**
 * A variant of any state type, as the registry stores them (method
 * parameters are bivariant, so every `Variant<S>` is assignable).
 */
export type AnyVariant = Variant<unknown>;
