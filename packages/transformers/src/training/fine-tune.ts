import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, type PeftAdapter } from '@tsd-peft/core';
import {
  constantLr,
  cosineWarmupDecay,
  injectAdapters,
  linearWarmupDecay,
  prefetchHostValues,
  baseWeightShape,
  baseWeightTensors,
  train,
  isDenseMethod,
  type AdapterConfig,
  type AdapterModel,
  type DataSource,
  type EvalResult,
  type JsonValue,
  type LinearProvider,
  type LrSchedule,
  type ProgressEvent,
  type TrainOptions,
  type TrainResult,
} from '@tsd-peft/tfjs';
import type { CausalLM } from '../load-causal-lm.js';
import type { TokenBatch } from './data.js';
import { replicaHeadSplit, tokenBatchLoss } from './batch-loss.js';

/** Where batches come from: anything with `batchAt(cursor)` (a {@link BatchSource}), a function of the index, or a trainer data source. */
export type FineTuneData<C extends JsonValue = JsonValue> = { batchAt(index: number): TokenBatch } | ((index: number) => TokenBatch) | DataSource<TokenBatch, C>;

/** Learning-rate schedule by name (HF `get_*_schedule_with_warmup` semantics, see @tsd-peft/tfjs). */
export type ScheduleName = 'constant' | 'linear' | 'cosine';

/** What an evaluation hook sees: the model, the adapters being trained and the completed step. */
export interface FineTuneEvalContext {
  step: number;
  model: CausalLM;
  adapter: AdapterModel;
}

/**
 * Options of {@link fineTune}. `steps`, `optimizer` (default `{ type: 'adam' }`,
 * torch defaults), `clipGradNorm`, `accumulationSteps`, `checkpoint`, `resume`
 * and `signal` mean what they mean for the tfjs trainer's `train`, which gets them as given.
 */
export interface FineTuneOptions<C extends JsonValue = JsonValue>
  extends Pick<TrainOptions<TokenBatch, C>, 'steps' | 'optimizer' | 'clipGradNorm' | 'accumulationSteps' | 'checkpoint' | 'resume' | 'signal'> {
  /** The base model; its weights stay frozen (borrowed, never modified). */
  model: CausalLM;
  /** Adapter method and hyperparameters in PEFT's vocabulary (`method: 'full'` trains every targeted weight densely). */
  adapter: AdapterConfig;
  /**
   * Start from these factors instead of the method's own initialisation (a
   * PEFT adapter from Python, or a reference run's initial A/B). Only for
   * methods that train on the original W (lora, rslora, lora-dash, full).
   */
  initialAdapter?: PeftAdapter;
  /** Training batches by cursor; a checkpoint stores the cursor, so resume continues with the right batch. */
  data: FineTuneData<C>;
  /** Peak learning rate, or a full schedule of the 0-based step (then `schedule`/`warmupSteps` must be unset). */
  lr: number | LrSchedule;
  /** Default 'constant'. */
  schedule?: ScheduleName;
  /** Linear warm-up steps of 'linear' / 'cosine' (default 0). */
  warmupSteps?: number;
  /** Floor of the decay as a fraction of `lr` (default 0). */
  minLrRatio?: number;
  /** Seed of the trainer's RNG (default: the adapter seed, else 0). */
  seed?: number;
  /** Evaluate every `every` steps and after the last; must not touch the training data source. */
  evaluate?: { every: number; run: (context: FineTuneEvalContext) => EvalResult | Promise<EvalResult> };
  /**
   * Recompute each decoder layer's forward in the backward pass (HF
   * `gradient_checkpointing_enable()`): activation memory of one layer
   * instead of all of them, for about one more forward per step. On for this
   * run only; the model's own setting is restored afterwards.
   */
  gradientCheckpointing?: boolean;
  /** After every step; the adapter model is passed so callers can read launch state (e.g. LoRA-Dash's TSDs). */
  onProgress?: (event: ProgressEvent, adapter: AdapterModel) => void | Promise<void>;
}

/** What {@link fineTune} returns. The caller owns `adapter` and must dispose it. */
export interface FineTuneResult {
  adapter: AdapterModel;
  result: TrainResult;
}

/**
 * Fine-tunes a causal LM with adapters: injects them into the model's frozen
 * weights ({@link injectAdapters}; optionally starting from given factors),
 * builds the loss — the replica's forward through the adapter model's
 * `LinearProvider`, then {@link causalLmLoss} with the batch's attention and
 * loss masks — and runs the tfjs trainer (Adam/AdamW, schedule, clipping,
 * accumulation, checkpoints, exact resume, progress with tokens/s counted
 * from `TokenBatch.tokens`). This is the code path of the `tsd-peft train`
 * CLI, the trajectory replay and the bench. On error the adapter model is
 * disposed and the error rethrown.
 */
export async function fineTune<C extends JsonValue = JsonValue>(options: FineTuneOptions<C>): Promise<FineTuneResult> {
  const { model } = options;
  const lr = resolveSchedule(options);
  const data = toDataSource(options.data);
  const adapterConfig = resolvedAdapterConfig(options.adapter);
  // Injection reads the 2-D weights on the host; on a GPU backend their values are awaited first (no-op on wasm).
  await prefetchHostValues([...model.weights.values()].filter((w) => baseWeightShape(w).length === 2).flatMap(baseWeightTensors));
  const adapter = injectAdapters(model.weights, adapterConfig);
  const checkpointingBefore = model.replica.isGradientCheckpointing;
  if (options.gradientCheckpointing !== undefined) setGradientCheckpointing(model, options.gradientCheckpointing);
  try {
    if (options.initialAdapter !== undefined) adapter.loadPeftAdapter(options.initialAdapter);
    const { steps, optimizer, clipGradNorm, accumulationSteps, checkpoint, resume, signal, evaluate, onProgress } = options;
    // The trainer treats an option given as undefined exactly like an absent one.
    const result = await train<TokenBatch, C>({
      model: adapter,
      lossFn: (batch) => batchLoss(model, adapter, batch),
      data,
      lr,
      seed: options.seed ?? options.adapter.seed ?? 0,
      steps,
      optimizer,
      clipGradNorm,
      accumulationSteps,
      checkpoint,
      resume,
      signal,
      ...(evaluate === undefined ? {} : { evaluate: { every: evaluate.every, run: (step: number) => evaluate.run({ step, model, adapter }) } }),
      ...(onProgress === undefined ? {} : { onProgress: (event: ProgressEvent) => onProgress(event, adapter) }),
    });
    return { adapter, result };
  } catch (error) {
    adapter.dispose();
    throw error;
  } finally {
    setGradientCheckpointing(model, checkpointingBefore);
  }
}

function setGradientCheckpointing(model: CausalLM, on: boolean): void {
  if (on) model.replica.gradientCheckpointingEnable();
  else model.replica.gradientCheckpointingDisable();
}

/**
 * The training loss of one batch: logits of `model` through `linear` (an
 * adapter model, or `model.frozen`), then the masked mean next-token
 * cross-entropy. The attention mask is passed only when the batch has padding,
 * so unpadded batches run exactly the reference's unmasked forward.
 */
export function batchLoss(model: CausalLM, linear: LinearProvider, batch: TokenBatch): tf.Scalar {
  return tokenBatchLoss(batch, (inputs) => model.forward(inputs, linear), replicaHeadSplit(model.replica, model.weights, linear));
}

/**
 * Mean loss over `batches`, weighted by their counted target tokens (so it is
 * the per-token NLL of the whole set), without gradients — the usual
 * validation metric. `linear` defaults to the frozen model.
 */
export function meanLoss(model: CausalLM, batches: readonly TokenBatch[], linear: LinearProvider = model.frozen): number {
  let sum = 0;
  let count = 0;
  for (const batch of batches) {
    if (batch.tokens === 0) continue;
    const loss = batchLoss(model, linear, batch);
    sum += (loss.dataSync()[0] as number) * batch.tokens;
    loss.dispose();
    count += batch.tokens;
  }
  if (count === 0) throw new ConfigError('meanLoss: the batches hold no counted target tokens', { tensor: 'lossMask' });
  return sum / count;
}

/**
 * A {@link TokenBatch} from nested rows (`ids`, `attentionMask`, `lossMask`,
 * each `[batch][seq]`, all rows the same length), e.g. a bench batch; `tokens`
 * counts the loss-mask ones.
 */
export function tokenBatchFromRows(rows: { ids: readonly (readonly number[])[]; attentionMask?: readonly (readonly number[])[]; lossMask: readonly (readonly number[])[] }): TokenBatch {
  const batch = rows.ids.length;
  const seq = rows.ids[0]?.length ?? 0;
  if (batch === 0 || seq === 0) throw new ConfigError('tokenBatchFromRows: the batch is empty', { tensor: 'ids', shape: [batch, seq] });
  const flat = (name: string, m: readonly (readonly number[])[] | undefined, fill: number): Int32Array => {
    const out = new Int32Array(batch * seq).fill(fill);
    if (m === undefined) return out;
    if (m.length !== batch) throw new ConfigError(`${name} has ${m.length} rows, ids has ${batch}`, { tensor: name, shape: [m.length] });
    m.forEach((row, b) => {
      if (row.length !== seq) throw new ConfigError(`${name} row ${b} has length ${row.length}, expected ${seq}`, { tensor: name, shape: [batch, seq] });
      out.set(row, b * seq);
    });
    return out;
  };
  const inputIds = flat('ids', rows.ids, 0);
  const attentionMask = flat('attentionMask', rows.attentionMask, 1);
  const lossMask = flat('lossMask', rows.lossMask, 0);
  let tokens = 0;
  for (const m of lossMask) tokens += m === 0 ? 0 : 1;
  return { batch, seq, inputIds, attentionMask, lossMask, tokens };
}

function toDataSource<C extends JsonValue>(data: FineTuneData<C>): DataSource<TokenBatch, C> {
  const tokens = (b: TokenBatch) => b.tokens;
  if (typeof data === 'function') return indexed(data, tokens) as unknown as DataSource<TokenBatch, C>;
  if ('next' in data) return data.tokens === undefined ? { ...data, start: data.start, next: data.next.bind(data), tokens } : data;
  return indexed((i) => data.batchAt(i), tokens) as unknown as DataSource<TokenBatch, C>;
}

/** The cursor is the index of the next batch (as tfjs `indexedBatches`, kept local to stay typed on TokenBatch). */
function indexed(batchAt: (index: number) => TokenBatch, tokens: (b: TokenBatch) => number): DataSource<TokenBatch, number> {
  return {
    start: 0,
    next(cursor) {
      if (!Number.isInteger(cursor) || cursor < 0) throw new ConfigError(`data cursor must be a non-negative integer, got ${JSON.stringify(cursor)}`);
      return { batch: batchAt(cursor), cursor: cursor + 1 };
    },
    tokens,
  };
}

/** The adapter config `fineTune` injects: a dense method (full fine-tuning) without `targetModules` trains every linear. */
export function resolvedAdapterConfig(adapter: AdapterConfig): AdapterConfig {
  return isDenseMethod(adapter.method) && adapter.targetModules === undefined ? { ...adapter, targetModules: 'all-linear' } : adapter;
}

/** The learning-rate schedule `fineTune` trains with: `lr` itself when it is a function, else the named schedule over `steps`. */
export function resolveSchedule(options: Pick<FineTuneOptions, 'lr' | 'schedule' | 'warmupSteps' | 'minLrRatio' | 'steps'>): LrSchedule {
  const { lr, schedule, warmupSteps, minLrRatio, steps } = options;
  if (typeof lr === 'function') {
    if (schedule !== undefined || warmupSteps !== undefined || minLrRatio !== undefined) {
      throw new ConfigError('pass either lr as a schedule function, or a number with schedule/warmupSteps/minLrRatio', { field: 'lr' });
    }
    return lr;
  }
  const name = schedule ?? 'constant';
  if (name === 'constant') {
    if ((warmupSteps ?? 0) !== 0) throw new ConfigError("warmupSteps needs schedule 'linear' or 'cosine'", { field: 'warmupSteps' });
    return constantLr(lr);
  }
  const spec = { lr, warmupSteps: warmupSteps ?? 0, totalSteps: Math.max(1, steps), ...(minLrRatio === undefined ? {} : { minLrRatio }) };
  if (name === 'linear') return linearWarmupDecay(spec);
  if (name === 'cosine') return cosineWarmupDecay(spec);
  throw new ConfigError(`unknown schedule '${String(name)}'; choose constant, linear or cosine`, { field: 'schedule' });
}
