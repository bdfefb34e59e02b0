import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, TsdError, type Matrix, type NativeAdapter, type PeftAdapter } from '@tsd-peft/core';
import { resolveAdapterConfig, type AdapterConfig, type ResolvedAdapterConfig } from './adapter-config.js';
import { AdapterSlot, type SlotRegistry } from './adapter-slot.js';
import { checkpointFromSlots, restoreSlotsFromCheckpoint } from './adapter-checkpoint.js';
import { loadNativeAdapter, loadPeftAdapter, toNativeAdapter, toPeftAdapter, type NativeExportOptions, type PeftExportOptions } from './adapter-io.js';
import { matMulT } from './backend/ops.js';
import type { ReducedWeight } from './backend/reduced-weight.js';
import { isReducedWeight, type BaseWeight } from './base-weight.js';
import { FrozenWeight } from './frozen-weight.js';
import type { LinearProvider } from './linear.js';
import { moduleOfWeight, selectTargetModules } from './target-modules.js';
import type { ModelCheckpointState, TrainableModel } from './trainable.js';
import { variantFor } from './variants/registry.js';
import type { TsdInfo } from './variants/variant.js';

let nextModelId = 0;

/**
 * A set of adapters injected into named frozen weights. It is both the
 * replica's {@link LinearProvider} (y = x·Wᵀ + adapter terms, by module
 * path) and the trainer's {@link TrainableModel} (only adapter variables are
 * trainable; frozen weights are never variables, so they get neither
 * gradients nor optimizer memory). Create it with {@link injectAdapters}.
 *
 * The caller's weight tensors are borrowed, never modified or disposed; keep
 * them alive while the model is in use.
 */
export class AdapterModel implements LinearProvider, TrainableModel {
  readonly config: ResolvedAdapterConfig;
  private readonly slots = new Map<string, AdapterSlot>();
  private readonly untargeted = new Map<string, FrozenWeight>();
  private readonly weightsByModule = new Map<string, { weightName: string; tensor: tf.Tensor2D | ReducedWeight }>();
  private readonly registry: SlotRegistry;
  private enabled = true;
  private merged = false;
  private disposed = false;
  private completedSteps = 0;
  private probes: Map<string, tf.Tensor2D> | null = null;

  /** Use {@link injectAdapters}. */
  constructor(weights: ReadonlyMap<string, BaseWeight>, config: AdapterConfig) {
    this.config = resolveAdapterConfig(config);
    for (const [weightName, tensor] of weights) {
      if (isReducedWeight(tensor) || tensor.rank === 2) this.weightsByModule.set(moduleOfWeight(weightName), { weightName, tensor: tensor as tf.Tensor2D | ReducedWeight });
    }
    const targets = selectTargetModules(this.weightsByModule.keys(), this.config.targetModules);
    this.registry = { variables: new Map(), resetRequests: [], modelId: nextModelId++ };
    const variant = variantFor(this.config.method);
    // One random stream, drawn in natural module order, as the reference scripts do.
    const rng = Rng.fromSeed(this.config.seed);
    try {
      for (const name of targets) {
        const { tensor } = this.weightsByModule.get(name) as { tensor: tf.Tensor2D | ReducedWeight };
        this.slots.set(name, new AdapterSlot(name, tensor, variant, this.config, rng, this.registry));
      }
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /** Adapted module paths, in natural order. */
  get targetModules(): string[] {
    return [...this.slots.keys()];
  }

  /** Optimizer steps completed, as last reported through {@link afterOptimizerStep}. */
  get steps(): number {
    return this.completedSteps;
  }

  /** True between {@link merge} and {@link unmerge}. */
  get isMerged(): boolean {
    return this.merged;
  }

  /** `y = x·Wᵀ` plus the adapter terms of `name` (HF `nn.Linear`, no bias); x is [n, in]. */
  linear(name: string, x: tf.Tensor2D): tf.Tensor2D {
    this.assertLive();
    const slot = this.slots.get(name);
    if (slot === undefined) return this.untargetedWeight(name).project(x);
    return tf.tidy(() => {
      let y: tf.Tensor2D;
      if (!this.enabled) y = slot.base.project(x);
      else if (this.merged) y = slot.ctx.frozen.project(x);
      else y = slot.forward(x);
      const probe = this.probes?.get(name);
      return probe === undefined ? y : (tf.add(y, matMulT(x, probe)) as tf.Tensor2D);
    });
  }

  /** The adapter variables by stable name (`<module>.lora_A.weight`, `<module>.dash_d`, …). */
  trainableVariables(): ReadonlyMap<string, tf.Variable> {
    return this.registry.variables;
  }

  /**
   * The trainable variables of modules under `modulePrefix`, and the gradient
   * probes of {@link estimateInitFromGradients} while it runs: what a
   * gradient-checkpointed layer of the replica must route gradients to.
   */
  gradientTensors(modulePrefix: string): tf.Tensor[] {
    const out: tf.Tensor[] = [];
    for (const [name, v] of this.registry.variables) if (name.startsWith(modulePrefix)) out.push(v);
    for (const [name, probe] of this.probes ?? []) if (name.startsWith(modulePrefix)) out.push(probe);
    return out;
  }

  /**
   * Runs each variant's after-step hook: LoRA-Dash launches when `completedSteps`
   * reaches its pre-launch length, LoRA-Init re-initialises at `initSteps`.
   */
  afterOptimizerStep(completedSteps: number): void {
    this.assertLive();
    if (this.merged) throw new TsdError('adapters are merged; unmerge() before training');
    this.completedSteps = completedSteps;
    for (const slot of this.slots.values()) slot.afterStep(completedSteps);
  }

  /** The tensors {@link afterOptimizerStep} will read on the host at this step (see `TrainableModel.hostReadsAfterStep`). */
  hostReadsAfterStep(completedSteps: number): tf.Tensor[] {
    return [...this.slots.values()].flatMap((slot) => slot.variant.hostReadsAfterStep?.(completedSteps, slot.state, slot.ctx) ?? []);
  }

  /**
   * Every tensor checkpoints, exports and merges may read on the host: the
   * variables and each module's original and current frozen weight. On a GPU
   * backend, `await prefetchHostValues(model.hostReadsForState())` before
   * `toPeftAdapter()` & co.
   */
  hostReadsForState(): tf.Tensor[] {
    const slots = [...this.slots.values()];
    return [...this.registry.variables.values(), ...slots.flatMap((s) => [...s.base.baseTensors(), ...s.ctx.frozen.currentTensors()])];
  }

  /**
   * Names of variables whose optimizer state must be dropped because their
   * values were re-initialised (LoRA-Init's switch from the pre-launch
   * factors to the task-specific directions). Each name is returned once;
   * a trainer calls this after {@link afterOptimizerStep} and restarts the
   * moments and step count of those variables as if they were new.
   */
  consumeResetRequests(): string[] {
    return this.registry.resetRequests.splice(0);
  }

  /** Launch flags, selected directions, bases and residual inits, for the trainer's checkpoints. */
  checkpointState(): ModelCheckpointState {
    const state = checkpointFromSlots(this.slots.values(), this.registry.variables);
    state.meta.completedSteps = this.completedSteps;
    return state;
  }

  /** Restores {@link checkpointState} (before the trainer restores variable values). */
  restoreCheckpointState(state: ModelCheckpointState): void {
    this.assertLive();
    if (this.merged) this.unmerge();
    restoreSlotsFromCheckpoint(this.slots, state, this.registry.variables);
    const steps = state.meta.completedSteps;
    this.completedSteps = typeof steps === 'number' ? steps : 0;
    this.registry.resetRequests.length = 0;
  }

  /** Folds every adapter into its frozen weight (PEFT `merge`); the forward then skips adapter terms. */
  merge(): void {
    this.assertLive();
    if (this.merged) return;
    for (const slot of this.slots.values()) slot.merge();
    this.merged = true;
  }

  /** Undoes {@link merge} exactly (frozen weights are re-derived from the originals). */
  unmerge(): void {
    this.assertLive();
    if (!this.merged) return;
    for (const slot of this.slots.values()) slot.unmerge();
    this.merged = false;
  }

  /** Forward without any adapter: the original weights, as PEFT's `disable_adapter()` (unmerges first). */
  disableAdapters(): void {
    this.unmerge();
    this.enabled = false;
  }

  /** Re-enables the adapters after {@link disableAdapters}. */
  enableAdapters(): void {
    this.enabled = true;
  }

  /**
   * PEFT's `merge_and_unload()`: a new weight map, keyed like the input map,
   * whose adapted entries are new fp32 tensors W + ΔW (decode(W) + ΔW over a
   * reduced-precision base) and whose other entries are the caller's own
   * weights (reduced ones stay reduced); then disposes this model. The caller
   * owns the new tensors.
   */
  mergeAndUnload(): Map<string, tf.Tensor2D | ReducedWeight> {
    this.assertLive();
    this.unmerge();
    const out = new Map<string, tf.Tensor2D | ReducedWeight>();
    for (const [module, { weightName, tensor }] of this.weightsByModule) {
      const slot = this.slots.get(module);
      if (slot === undefined) {
        out.set(weightName, tensor);
        continue;
      }
      const m = slot.mergedWeight();
      out.set(weightName, tf.tensor2d(m.data, [m.rows, m.cols], 'float32'));
    }
    this.dispose();
    return out;
  }

  /** The adapters as a PEFT LoRA adapter relative to the original weights (see {@link toPeftAdapter}). */
  toPeftAdapter(options?: PeftExportOptions): PeftAdapter {
    this.assertLive();
    return toPeftAdapter(this, options);
  }

  /** Lossless state in core's native adapter format (see {@link toNativeAdapter}). */
  toNativeAdapter(options?: NativeExportOptions): NativeAdapter {
    this.assertLive();
    return toNativeAdapter(this, options);
  }

  /** Sets adapter factors from a PEFT adapter (see {@link loadPeftAdapter}). */
  loadPeftAdapter(adapter: PeftAdapter): void {
    this.assertLive();
    if (this.merged) this.unmerge();
    loadPeftAdapter(this, adapter);
  }

  /** Restores a native adapter (see {@link loadNativeAdapter}). */
  loadNativeAdapter(adapter: NativeAdapter): void {
    this.assertLive();
    if (this.merged) this.unmerge();
    loadNativeAdapter(this, adapter);
  }

  /** The directions each TSD method selected so far, and after which step, by module (empty for other methods). */
  tsdSelections(): Map<string, TsdInfo> {
    const out = new Map<string, TsdInfo>();
    for (const [name, slot] of this.slots) {
      const info = slot.variant.tsdInfo?.(slot.state, slot.ctx);
      if (info !== undefined && Object.keys(info).length > 0) out.set(name, info);
    }
    return out;
  }

  /**
   * LoRA-Init / LoRA-TSD with `initEstimate: 'gradient'`: accumulates
   * −Σ ∂L/∂W over the given losses (each a closure that runs the model's
   * forward through {@link linear}) and re-initialises every module on the
   * task-specific directions of that estimate. The gradient with respect to
   * W is taken through a zero probe added to each projection, so W never
   * becomes a variable. Call before training.
   */
  estimateInitFromGradients(losses: Iterable<() => tf.Scalar>): void {
    this.assertLive();
    const slots = [...this.slots.values()].filter((s) => s.variant.applyEstimate !== undefined);
    if (slots.length === 0) throw new ConfigError(`method '${this.config.method}' takes no ΔW estimate`, { field: 'method' });
    const sums = slots.map((s) => new Float64Array(s.ctx.frozen.outFeatures * s.ctx.frozen.inFeatures));
    let batches = 0;
    for (const loss of losses) {
      const zeros = slots.map((s) => tf.zeros([s.ctx.frozen.outFeatures, s.ctx.frozen.inFeatures]) as tf.Tensor2D);
      try {
        // Attached through the backward pass too: a gradient-checkpointed layer runs its forward again there.
        this.probes = new Map(slots.map((s, i) => [s.name, zeros[i] as tf.Tensor2D]));
        let grads: tf.Tensor[];
        try {
          grads = tf.grads(() => loss())(zeros);
        } finally {
          this.probes = null;
        }
        grads.forEach((g, i) => {
          const data = g.dataSync();
          const sum = sums[i] as Float64Array;
          for (let j = 0; j < sum.length; j++) sum[j] = (sum[j] as number) - (data[j] as number);
        });
        tf.dispose(grads);
      } finally {
        tf.dispose(zeros);
      }
      batches++;
    }
    if (batches === 0) throw new ConfigError('estimateInitFromGradients needs at least one loss', { field: 'losses' });
    slots.forEach((slot, i) => {
      const estimate: Matrix = { rows: slot.ctx.frozen.outFeatures, cols: slot.ctx.frozen.inFeatures, data: sums[i] as Float64Array };
      slot.state = slot.variant.applyEstimate?.(estimate, slot.state, slot.ctx) ?? slot.state;
    });
  }

  /** Frees variables, residuals and pre-transposed copies (never the caller's weights). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const slot of this.slots.values()) slot.dispose();
    for (const w of this.untargeted.values()) w.dispose();
    for (const v of this.registry.variables.values()) v.dispose();
    this.registry.variables.clear();
    this.slots.clear();
    this.untargeted.clear();
  }

  /** @internal The adapted modules, for the import/export helpers. */
  slotEntries(): IterableIterator<[string, AdapterSlot]> {
    return this.slots.entries();
  }

  private untargetedWeight(name: string): FrozenWeight {
    let w = this.untargeted.get(name);
    if (w === undefined) {
      const entry = this.weightsByModule.get(name);
      if (entry === undefined) {
        throw new ShapeError(`no 2-D weight for module '${name}' (known: ${[...this.weightsByModule.keys()].join(', ')})`, {
          tensor: name,
        });
      }
      w = new FrozenWeight(name, entry.tensor, this.config.pretransposeFrozen);
      this.untargeted.set(name, w);
    }
    return w;
  }

  private assertLive(): void {
    if (this.disposed) throw new TsdError('this AdapterModel was disposed (or merged and unloaded)');
  }
}

/**
 * Injects adapters into the 2-D weights selected by `config.targetModules`.
 * `weights` maps Hugging Face weight names (`model.layers.0.self_attn.q_proj.weight`,
 * [out, in]) or module paths to tensors or {@link ReducedWeight}s (a
 * bfloat16 / int8 frozen base: adapters stay fp32); other ranks are ignored. Unknown
 * targets throw {@link ConfigError} listing the available modules.
 */
export function injectAdapters(weights: ReadonlyMap<string, BaseWeight>, config: AdapterConfig): AdapterModel {
  return new AdapterModel(weights, config);
}
