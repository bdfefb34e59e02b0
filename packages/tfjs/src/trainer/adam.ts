import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@tsd-peft/core';
import type { TensorData } from '../trainable.js';

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

interface LiveState {
  step: number;
  m: tf.Tensor;
  v: tf.Tensor;
}

/** Fills defaults into an {@link AdamConfig} and validates it. */
export function resolveAdamConfig(config: AdamConfig): ResolvedAdamConfig {
  const { type, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = config;
  const weightDecay = config.weightDecay ?? (type === 'adamw' ? 0.01 : 0);
  if (type !== 'adam' && type !== 'adamw') throw new ConfigError(`optimizer.type must be 'adam' or 'adamw', got ${JSON.stringify(type)}`);
  for (const [field, value] of [['beta1', beta1], ['beta2', beta2]] as const) {
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
 */
export class AdamOptimizer {
  /** The resolved hyperparameters. */
  readonly config: ResolvedAdamConfig;
  private readonly state = new Map<string, LiveState>();

  constructor(config: AdamConfig) {
    this.config = resolveAdamConfig(config);
  }

  /**
   * One update of every variable in `grads` (by stable name) with learning
   * rate `lr`. Variables without a gradient are left alone and their state is
   * not advanced, as in PyTorch when `param.grad is None`.
   */
  applyGradients(variables: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new ConfigError(`learning rate must be finite and >= 0, got ${lr}`);
    const { type, beta1, beta2, eps, weightDecay } = this.config;
    for (const [name, grad] of grads) {
      const param = variables.get(name);
      if (param === undefined) throw new ConfigError('gradient for a variable the model does not list', { tensor: name });
      checkSameShape(grad.shape, param.shape, `gradient of ${name}`, name);
      const state = this.stateFor(name, param);
      state.step += 1;
      // Scalars computed in float64 then rounded to fp32 on use, as torch does with Python floats.
      const biasCorrection1 = 1 - beta1 ** state.step;
      const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** state.step);
      const stepSize = lr / biasCorrection1;
      const [m, v] = tf.tidy(() => {
        let g = grad;
        if (weightDecay !== 0) {
          if (type === 'adamw') param.assign(tf.mul(param, 1 - lr * weightDecay));
          else g = tf.add(g, tf.mul(param, weightDecay)); // grad.add(param, alpha=wd)
        }
        const mNext = lerp(state.m, g, 1 - beta1); // exp_avg.lerp_(grad, 1 - beta1)
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): self + (value·t1)·t2
        const vNext = tf.add(tf.mul(state.v, beta2), tf.mul(tf.mul(g, 1 - beta2), g));
        // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        const denom = tf.add(tf.div(tf.sqrt(vNext), biasCorrection2Sqrt), eps);
        // param.addcdiv_(exp_avg, denom, value=-step_size): self + (value·t1)/t2
        param.assign(tf.add(param, tf.div(tf.mul(mNext, -stepSize), denom)));
        return [mNext, vNext];
      });
      state.m.dispose();
      state.v.dispose();
      state.m = m as tf.Tensor;
      state.v = v as tf.Tensor;
    }
  }

  /** Names of the variables that have optimizer state. */
  stateNames(): string[] {
    return [...this.state.keys()];
  }

  /** The step count of one variable (0 when it has no state yet). */
  stepOf(name: string): number {
    return this.state.get(name)?.step ?? 0;
  }

  /** Drops the state of `names`; their next update starts from zero moments and t = 1. */
  resetState(names: Iterable<string>): void {
    for (const name of names) {
      const state = this.state.get(name);
      if (state === undefined) continue;
      state.m.dispose();
      state.v.dispose();
      this.state.delete(name);
    }
  }

  /** Drops the state of every variable not in `names` (variables the model no longer lists). */
  retainOnly(names: ReadonlySet<string>): void {
    this.resetState(this.stateNames().filter((name) => !names.has(name)));
  }

  /** The moment tensors (m, v of every variable), e.g. to await their values before {@link AdamOptimizer.exportState} on a GPU. */
  stateTensors(): tf.Tensor[] {
    return [...this.state.values()].flatMap(({ m, v }) => [m, v]);
  }

  /** The whole state as plain float32 data (copies), for checkpoints. */
  exportState(): AdamStateData {
    const variables: Record<string, AdamVariableState> = {};
    for (const [name, { step, m, v }] of this.state) {
      variables[name] = { step, expAvg: toTensorData(m), expAvgSq: toTensorData(v) };
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
      this.state.set(name, {
        step: s.step,
        m: tf.tensor(s.expAvg.data, s.expAvg.shape, 'float32'),
        v: tf.tensor(s.expAvgSq.data, s.expAvgSq.shape, 'float32'),
      });
    }
  }

  /** Releases every state tensor. */
  dispose(): void {
    this.resetState(this.stateNames());
  }

  private stateFor(name: string, param: tf.Variable): LiveState {
    const existing = this.state.get(name);
    if (existing !== undefined) {
      checkSameShape(existing.m.shape, param.shape, `optimizer state of ${name}`, name);
      return existing;
    }
    if (param.dtype !== 'float32') throw new ConfigError(`only float32 variables can be trained, got ${param.dtype}`, { tensor: name });
    const fresh = { step: 0, m: tf.zeros(param.shape), v: tf.zeros(param.shape) };
    this.state.set(name, fresh);
    return fresh;
  }
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

function toTensorData(t: tf.Tensor): TensorData {
  return { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) };
}

function checkSameShape(actual: readonly number[], expected: readonly number[], what: string, tensor: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${what} has shape [${actual.join(', ')}] but the variable is [${expected.join(', ')}]`, {
      tensor,
      shape: actual,
    });
  }
}
