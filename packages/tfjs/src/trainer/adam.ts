import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@tsd-peft/core';
import type { TensorData } from '../trainable.js';
import { groupByShape, stackAll, unstackAll } from './stacked.js';

/** Adam / AdamW hyperparameters (PyTorch names and defaults). */
export interface AdamConfig {
  /** `'adam'`: `torch.optim.Adam` (L2 decay added to the gradient); `'adamw'`: `torch.optim.AdamW` (decoupled decay). */
  type: 'adam' | 'adamw';
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Default 0 for Adam, 0.01 for AdamW (PyTorch's defaults). */
  weightDecay?: number;
}

/** An {@link AdamConfig} with every default filled in. */
export type ResolvedAdamConfig = Required<AdamConfig>;

/** Optimizer state of one variable: its own step count and both moments. */
export interface AdamVariableState {
  /** Updates applied to this variable so far (PyTorch keeps one count per parameter). */
  step: number;
  /** First moment `exp_avg`. */
  expAvg: TensorData;
  /** Second moment `exp_avg_sq`. */
  expAvgSq: TensorData;
}

/** Everything an {@link AdamOptimizer} holds, as plain data for checkpoints. */
export interface AdamStateData {
  config: ResolvedAdamConfig;
  variables: Record<string, AdamVariableState>;
}

/**
 * Moments of same-shaped variables that share a step count, stacked along a
 * new axis 0 so one kernel updates them all (see `stacked.ts`).
 */
interface StateGroup {
  step: number;
  /** Shape of each member variable. */
  shape: number[];
  /** [members, ...shape]. */
  m: tf.Tensor;
  v: tf.Tensor;
  /** Members whose state still lives here (a member moves out when it is regrouped or reset). */
  live: number;
}

/** Where one variable's state lives: row `index` of `group`. */
interface StateSlot {
  group: StateGroup;
  index: number;
}

/** Fills defaults into an {@link AdamConfig} and validates it. */
export function resolveAdamConfig(config: AdamConfig): ResolvedAdamConfig {
  const { type, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = config;
  const weightDecay = config.weightDecay ?? (type === 'adamw' ? 0.01 : 0);
  if (type !== 'adam' && type !== 'adamw') throw new ConfigError(`optimizer.type must be 'adam' or 'adamw', got ${JSON.stringify(type)}`);
  for (const [field, value] of [
    ['beta1', beta1],
    ['beta2', beta2],
  ] as const) {
    if (!(value >= 0 && value < 1)) throw new ConfigError(`optimizer.${field} must be in [0, 1), got ${value}`);
  }
  if (!(eps >= 0 && Number.isFinite(eps))) throw new ConfigError(`optimizer.eps must be finite and >= 0, got ${eps}`);
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) {
    throw new ConfigError(`optimizer.weightDecay must be finite and >= 0, got ${weightDecay}`);
  }
  return { type, beta1, beta2, eps, weightDecay };
}

/**
 * Adam and AdamW with PyTorch's semantics and fp32 operation order
 * (`torch.optim.adam._single_tensor_adam`, the CPU default), with its state in
 * tensors this class owns so checkpoints restore moments and step counts
 * exactly. Kingma & Ba (2015) Alg. 1 with the bias correction folded as torch does:
 *
 *     m ← lerp(m, g, 1−β₁)            v ← β₂·v + (1−β₂)·g·g
 *     denom = √v / √(1−β₂ᵗ) + ε        p ← p − (lr/(1−β₁ᵗ))·m / denom
 *
 * AdamW first scales p by (1 − lr·λ) (Loshchilov & Hutter 2019); Adam adds λ·p
 * to g. State for a variable starts the first time it receives a gradient,
 * with its own step count (a LoRA-Dash `d` created at launch starts at t = 1).
 *
 * Small variables of one shape and step count are updated together, as
 * stacked tensors (PyTorch's `foreach` implementation does the same per
 * device and dtype): a few kernels per group instead of ~15 per variable,
 * with the same bits, since every operation is elementwise. Stacks are
 * capped in size (`maxStackElements`), so big variables still go one by one.
 */
export class AdamOptimizer {
  /** The resolved hyperparameters. */
  readonly config: ResolvedAdamConfig;
  private readonly state = new Map<string, StateSlot>();

  constructor(config: AdamConfig) {
    this.config = resolveAdamConfig(config);
  }

  /**
   * One update of every variable in `grads` (by stable name) with learning
   * rate `lr`. Variables without a gradient are left alone and their state is
   * not advanced, as in PyTorch when `param.grad is None`. `gradScale`, when
   * given, multiplies every gradient first (the coefficient of
   * `clip_grad_norm_`, see `clipCoefficient`).
   */
  applyGradients(variables: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number, gradScale?: tf.Scalar): void {
    if (!Number.isFinite(lr) || lr < 0) throw new ConfigError(`learning rate must be finite and >= 0, got ${lr}`);
    const steps = new Map<number, [string, tf.Variable][]>();
    for (const [name, grad] of grads) {
      const param = variables.get(name);
      if (param === undefined) throw new ConfigError('gradient for a variable the model does not list', { tensor: name });
      checkSameShape(grad.shape, param.shape, `gradient of ${name}`, name);
      const slot = this.state.get(name);
      if (slot !== undefined) checkSameShape(slot.group.shape, param.shape, `optimizer state of ${name}`, name);
      else if (param.dtype !== 'float32') throw new ConfigError(`only float32 variables can be trained, got ${param.dtype}`, { tensor: name });
      const step = slot?.group.step ?? 0;
      const sameStep = steps.get(step);
      if (sameStep === undefined) steps.set(step, [[name, param]]);
      else sameStep.push([name, param]);
    }
    for (const entries of steps.values()) {
      for (const { names, shape } of groupByShape(entries)) this.update(this.groupOf(names, shape), names, variables, grads, lr, gradScale);
    }
  }

  /** Names of the variables that have optimizer state. */
  stateNames(): string[] {
    return [...this.state.keys()];
  }

  /** The step count of one variable (0 when it has no state yet). */
  stepOf(name: string): number {
    return this.state.get(name)?.group.step ?? 0;
  }

  /** Drops the state of `names`; their next update starts from zero moments and t = 1. */
  resetState(names: Iterable<string>): void {
    for (const name of names) {
      const slot = this.state.get(name);
      if (slot === undefined) continue;
      this.state.delete(name);
      release(slot.group);
    }
  }

  /** Drops the state of every variable not in `names` (variables the model no longer lists). */
  retainOnly(names: ReadonlySet<string>): void {
    this.resetState(this.stateNames().filter((name) => !names.has(name)));
  }

  /** The moment tensors (every group's m and v), e.g. to await their values before {@link AdamOptimizer.exportState} on a GPU. */
  stateTensors(): tf.Tensor[] {
    return [...this.groups()].flatMap(({ m, v }) => [m, v]);
  }

  /** The whole state as plain float32 data (copies), for checkpoints. */
  exportState(): AdamStateData {
    const hostValues = new Map<tf.Tensor, Float32Array>();
    const rowOf = (stacked: tf.Tensor, index: number, shape: number[]): TensorData => {
      let all = hostValues.get(stacked);
      if (all === undefined) {
        all = stacked.dataSync() as Float32Array;
        hostValues.set(stacked, all);
      }
      const size = tf.util.sizeFromShape(shape);
      return { shape: [...shape], data: all.slice(index * size, (index + 1) * size) };
    };
    const variables: Record<string, AdamVariableState> = {};
    for (const [name, { group, index }] of this.state) {
      variables[name] = { step: group.step, expAvg: rowOf(group.m, index, group.shape), expAvgSq: rowOf(group.v, index, group.shape) };
    }
    return { config: { ...this.config }, variables };
  }

  /** Replaces the whole state with `data` (from {@link AdamOptimizer.exportState}). */
  importState(data: AdamStateData): void {
    if (data.config.type !== this.config.type) {
      throw new ConfigError(`checkpoint holds ${data.config.type} state but the optimizer is ${this.config.type}`);
    }
    this.resetState(this.stateNames());
    for (const [name, s] of Object.entries(data.variables)) {
      if (!Number.isInteger(s.step) || s.step < 0) throw new ConfigError(`invalid optimizer step count ${s.step}`, { tensor: name });
      checkSameShape(s.expAvgSq.shape, s.expAvg.shape, `exp_avg_sq of ${name}`, name);
      const shape = [...s.expAvg.shape];
      // One group per variable; the next update regroups them.
      const group: StateGroup = {
        step: s.step,
        shape,
        m: tf.tensor(s.expAvg.data, [1, ...shape], 'float32'),
        v: tf.tensor(s.expAvgSq.data, [1, ...shape], 'float32'),
        live: 1,
      };
      this.state.set(name, { group, index: 0 });
    }
  }

  /** Releases every state tensor. */
  dispose(): void {
    this.resetState(this.stateNames());
  }

  private *groups(): Iterable<StateGroup> {
    const seen = new Set<StateGroup>();
    for (const { group } of this.state.values()) {
      if (seen.has(group)) continue;
      seen.add(group);
      yield group;
    }
  }

  /**
   * The state group holding exactly `names` in this order (same shape and
   * step count). Reused as is in the steady state; otherwise the members'
   * moments are gathered into a new group (zeros for variables seen for
   * the first time).
   */
  private groupOf(names: readonly string[], variableShape: readonly number[]): StateGroup {
    const shape = [...variableShape];
    const first = this.state.get(names[0] as string)?.group;
    // Every row of `first` held by `names`, in order: the steady state.
    if (first !== undefined && first.m.shape[0] === names.length && names.every((n, i) => this.state.get(n)?.group === first && this.state.get(n)?.index === i)) {
      return first;
    }
    const slots = names.map((n) => this.state.get(n));
    const [m, v] = tf.tidy(() => {
      const row = (slot: StateSlot | undefined, moment: 'm' | 'v') =>
        slot === undefined
          ? tf.zeros(shape)
          : slot.group[moment].shape[0] === 1
            ? tf.reshape(slot.group[moment], shape) // a group of one: no copy
            : tf.reshape(tf.slice(slot.group[moment], slot.index, 1), shape);
      return [stackAll(slots.map((s) => row(s, 'm'))), stackAll(slots.map((s) => row(s, 'v')))];
    });
    const group: StateGroup = { step: slots[0]?.group.step ?? 0, shape, m: m as tf.Tensor, v: v as tf.Tensor, live: names.length };
    names.forEach((name, index) => {
      const old = this.state.get(name);
      this.state.set(name, { group, index });
      if (old !== undefined) release(old.group);
    });
    return group;
  }

  /** One Adam step of the variables `names`, whose state is `group`, as stacked tensors. */
  private update(group: StateGroup, names: readonly string[], variables: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number, gradScale: tf.Scalar | undefined): void {
    const { type, beta1, beta2, eps, weightDecay } = this.config;
    group.step += 1;
    // Scalars computed in float64 then rounded to fp32 on use, as torch does with Python floats.
    const biasCorrection1 = 1 - beta1 ** group.step;
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** group.step);
    const stepSize = lr / biasCorrection1;
    const params = names.map((n) => variables.get(n) as tf.Variable);
    // Small scopes, so each intermediate is freed (and its memory reused while
    // still in cache) as soon as the next one exists.
    const g = tf.tidy(() => {
      let stacked = stackAll(names.map((n) => grads.get(n) as tf.Tensor));
      if (gradScale !== undefined) stacked = tf.mul(stacked, gradScale);
      // Adam's L2 decay: grad.add(param, alpha=wd)
      if (weightDecay !== 0 && type === 'adam') stacked = tf.add(stacked, tf.mul(stackAll(params), weightDecay));
      return stacked;
    });
    const m = tf.tidy(() => lerp(group.m, g, 1 - beta1)); // exp_avg.lerp_(grad, 1 - beta1)
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): self + (value·t1)·t2
    const v = tf.tidy(() => tf.add(tf.mul(group.v, beta2), tf.mul(tf.mul(g, 1 - beta2), g)));
    g.dispose();
    tf.tidy(() => {
      const p = weightDecay !== 0 && type === 'adamw' ? tf.mul(stackAll(params), 1 - lr * weightDecay) : stackAll(params);
      // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps);
      // param.addcdiv_(exp_avg, denom, value=-step_size): self + (value·t1)/t2
      const step = tf.tidy(() => tf.div(tf.mul(m, -stepSize), tf.add(tf.div(tf.sqrt(v), biasCorrection2Sqrt), eps)));
      unstackAll(tf.add(p, step), names.length, group.shape).forEach((value, i) => (params[i] as tf.Variable).assign(value));
    });
    group.m.dispose();
    group.v.dispose();
    group.m = m as tf.Tensor;
    group.v = v as tf.Tensor;
  }
}

/** Drops one member from `group`, releasing its tensors with the last. */
function release(group: StateGroup): void {
  group.live -= 1;
  if (group.live === 0) tf.dispose([group.m, group.v]);
}

/**
 * torch.lerp(self, end, w) in fp32 with torch's two branches (scalar kernel):
 * `self + w·(end − self)` for |w| < ½, else `end − (end − self)·(1 − w)`.
 * torch's AVX kernel fuses the small-weight branch into one FMA; tfjs has no
 * FMA, so moments may differ from torch by one rounding (≈6e-8 relative).
 */
function lerp(self: tf.Tensor, end: tf.Tensor, weight: number): tf.Tensor {
  const w = Math.fround(weight);
  const diff = tf.sub(end, self);
  return Math.abs(w) < 0.5 ? tf.add(self, tf.mul(diff, w)) : tf.sub(end, tf.mul(diff, 1 - w));
}

function checkSameShape(actual: readonly number[], expected: readonly number[], what: string, tensor: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${what} has shape [${actual.join(', ')}] but the variable is [${expected.join(', ')}]`, {
      tensor,
      shape: actual,
    });
  }
}
