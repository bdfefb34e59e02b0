import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, mergeLora, toPlainLora, unmergeLora, type LoraFactors, type ModuleRecord, type Rng } from '@tsd-peft/core';
import type { ResolvedAdapterConfig } from './adapter-config.js';
import type { ReducedWeight } from './backend/reduced-weight.js';
import { FrozenWeight } from './frozen-weight.js';
import type { AdapterParts, AnyVariant, ModuleContext, PeftModule } from './variants/variant.js';

/** Shared by all slots of one model: its variables and its optimizer-reset requests. */
export interface SlotRegistry {
  readonly variables: Map<string, tf.Variable>;
  readonly resetRequests: string[];
  /** Unique per model, appended to tfjs variable names (which must be unique engine-wide). */
  readonly modelId: number;
}

/**
 * One adapted module: its frozen weight(s), its variant and the variant's
 * state. Internal to the adapter model (not exported from the package).
 */
export class AdapterSlot {
  readonly ctx: ModuleContext;
  /** The original weight, always borrowed, for the adapter-free forward. */
  readonly base: FrozenWeight;
  state: unknown;

  constructor(
    readonly name: string,
    weight: tf.Tensor2D | ReducedWeight,
    readonly variant: AnyVariant,
    config: ResolvedAdapterConfig,
    rng: Rng,
    registry: SlotRegistry,
  ) {
    const frozen = new FrozenWeight(name, weight, config.pretransposeFrozen);
    this.base = new FrozenWeight(name, weight, config.pretransposeFrozen);
    const key = (k: string) => `${name}.${k}`;
    this.ctx = {
      name,
      config,
      frozen,
      original: () => frozen.baseMatrix(),
      originalTensors: () => frozen.baseTensors(),
      rng,
      svd: (w, n) => config.svdCache.get(w, n ?? name),
      createVariable: (k, value) => {
        if (registry.variables.has(key(k))) throw new ConfigError('variable created twice', { tensor: key(k) });
        const v = tf.variable(value, true, `${key(k)}#${registry.modelId}`);
        value.dispose();
        registry.variables.set(key(k), v);
        return v;
      },
      variable: (k) => registry.variables.get(key(k)),
      removeVariable: (k) => {
        registry.variables.get(key(k))?.dispose();
        registry.variables.delete(key(k));
      },
      requestOptimizerReset: (keys) => {
        for (const k of keys) if (!registry.resetRequests.includes(key(k))) registry.resetRequests.push(key(k));
      },
    };
    this.state = variant.init(this.ctx);
  }

  /** x·W'ᵀ plus the variant's terms (adapters active, not merged). */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const { variant, ctx, state } = this;
      if (variant.output) return variant.output(x, state, ctx);
      const y = ctx.frozen.project(x);
      const term = variant.forward(x, state, ctx);
      return term === null ? y : (tf.add(y, term) as tf.Tensor2D);
    });
  }

  /** The adapter as plain LoRA pieces. */
  parts(): AdapterParts {
    return this.variant.parts(this.state, this.ctx);
  }

  /** One plain LoRA relative to the original W (core's `toPlainLora`). */
  plainLora(): LoraFactors {
    return toPlainLora({ ...this.parts(), name: this.name });
  }

  /** The effective weight: the variant's own merge (full: the trained W; DoRA: the rescaled W + ΔW), else W' + scaling·B·A (+ dash). */
  mergedWeight(): ReturnType<typeof mergeLora> {
    if (this.variant.merge) return this.variant.merge(this.state, this.ctx);
    const { factors, dash } = this.parts();
    return mergeLora(this.ctx.frozen.matrix(), factors, dash, this.name);
  }

  /**
   * Folds the adapter into the frozen weight (PEFT `merge`). The merged weight
   * is kept in fp32 even over a reduced base (decode(W) + ΔW, exactly), so
   * merging loses nothing of ΔW.
   */
  merge(): void {
    this.ctx.frozen.replace(this.mergedWeight(), 'float32');
  }

  /**
   * Undoes {@link AdapterSlot.merge} exactly: the frozen weight is re-derived
   * from the original (the base itself, or the residual rebuilt from the
   * initial factors), so merge/unmerge cycles never drift.
   */
  unmerge(): void {
    // A variant with its own merge keeps its frozen weight the original W (no residual to rebuild).
    const { init } = this.variant.merge ? { init: undefined } : this.parts();
    if (init === undefined) this.ctx.frozen.restoreBase();
    else this.ctx.frozen.replace(unmergeLora(this.ctx.original(), init, undefined, this.name));
  }

  afterStep(completedSteps: number): void {
    this.state = this.variant.afterStep?.(completedSteps, this.state, this.ctx) ?? this.state;
  }

  setFactors(factors: LoraFactors): void {
    this.state = this.variant.setFactors(factors, this.state, this.ctx);
  }

  /** Loads a module of a PEFT adapter: through the variant's PEFT form, else as factors. */
  loadPeft(m: PeftModule): void {
    const peft = this.variant.peft;
    this.state = peft !== undefined ? peft.load(m, this.state, this.ctx) : this.variant.setFactors(m.factors, this.state, this.ctx);
  }

  /** Whether the variant keeps a state record ({@link Variant.saveState}); without one its variables are its whole state. */
  get hasRecord(): boolean {
    return this.variant.saveState !== undefined;
  }

  /** The variant's state record, stamped with its method (native files and checkpoints). */
  saveRecord(): ModuleRecord {
    if (this.variant.saveState === undefined) {
      throw new ConfigError(`method '${this.variant.name}' has no native adapter form; use mergeAndUnload() to keep the trained weights`, { tensor: this.name });
    }
    return { method: this.variant.name, ...this.variant.saveState(this.state, this.ctx) };
  }

  /** Restores {@link AdapterSlot.saveRecord} output; refuses a record of another method. */
  loadRecord(record: ModuleRecord): void {
    if (this.variant.loadState === undefined) {
      throw new ConfigError(`a native adapter cannot be loaded into method '${this.variant.name}'`, { tensor: this.name });
    }
    if (record.method !== this.variant.name) {
      throw new ConfigError(`adapter state is for method '${record.method}' but the module uses '${this.variant.name}'`, {
        tensor: this.name,
      });
    }
    this.state = this.variant.loadState(record, this.state, this.ctx);
  }

  dispose(): void {
    this.variant.dispose?.(this.state, this.ctx);
    this.ctx.frozen.dispose();
    this.base.dispose();
  }
}

/**
 * Loads every module's record, or none: when one is refused, the modules
 * already loaded get their previous state back (their own records, which are
 * lossless) before the error propagates, so a bad file never leaves a model
 * half-replaced.
 */
export function loadRecordsOrRollBack(slots: ReadonlyMap<string, AdapterSlot>, records: ReadonlyMap<string, ModuleRecord>): void {
  const loaded: [AdapterSlot, ModuleRecord][] = [];
  try {
    for (const [name, record] of records) {
      const slot = slots.get(name);
      if (slot === undefined || !slot.hasRecord) continue;
      const previous = slot.saveRecord();
      slot.loadRecord(record);
      loaded.push([slot, previous]);
    }
  } catch (error) {
    for (const [slot, previous] of loaded.reverse()) slot.loadRecord(previous);
    throw error;
  }
}
