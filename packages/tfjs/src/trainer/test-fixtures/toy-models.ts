/**
 * Small synthetic models for the trainer's tests (and the SIGKILL child):
 * named tf.Variables, a deterministic init from core's Rng, and one model
 * whose trainable set grows mid-run exactly like LoRA-Dash adds `d` at launch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@tsd-peft/core';
import type { ModelCheckpointState, TensorData } from '../../trainable.js';
import type { TrainableModel } from '../../trainable.js';

let uid = 0;
/** tf variable names are global to the engine; stable names stay the map keys. */
function variable(name: string, value: tf.Tensor): tf.Variable {
  uid += 1;
  const v = tf.variable(value, true, `${name}#${uid}`);
  value.dispose(); // the variable holds its own reference to the data
  return v;
}

function normals(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** A regression batch: `x` [rows, inDim], `y` [rows, outDim], row-major. */
export interface ToyBatch {
  rows: number;
  x: Float32Array;
  y: Float32Array;
}

/** A fixed synthetic dataset y = tanh(x·W*) + noise, generated from `seed`. */
export function toyDataset(seed: number, size: number, inDim: number, outDim: number): ToyBatch {
  const rng = Rng.fromSeed(seed);
  const teacher = normals(rng, inDim * outDim, 1 / Math.sqrt(inDim));
  const x = normals(rng, size * inDim, 1);
  const y = new Float32Array(size * outDim);
  for (let r = 0; r < size; r++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += (x[r * inDim + i] as number) * (teacher[i * outDim + o] as number);
      y[r * outDim + o] = Math.tanh(s) + 0.05 * rng.normal();
    }
  }
  return { rows: size, x, y };
}

/** Rows `indices` of `data` as a batch. */
export function takeRows(data: ToyBatch, indices: readonly number[], inDim: number, outDim: number): ToyBatch {
  const x = new Float32Array(indices.length * inDim);
  const y = new Float32Array(indices.length * outDim);
  indices.forEach((row, i) => {
    x.set(data.x.subarray(row * inDim, (row + 1) * inDim), i * inDim);
    y.set(data.y.subarray(row * outDim, (row + 1) * outDim), i * outDim);
  });
  return { rows: indices.length, x, y };
}

/** Options of {@link GrowingMlp}. */
export interface GrowingMlpOptions {
  seed: number;
  inDim: number;
  hidden: number;
  outDim: number;
  /** Completed steps after which `dash.d` is created (like LoRA-Dash's launch); Infinity: never. */
  growAt: number;
  /** Width of the late term. */
  directions?: number;
}

/**
 * y = relu(x·W₁ + b₁)·W₂ (+ ((x·V) ⊙ d)·Uᵀ after launch). At launch, the
 * frozen bases U, V are derived from the trained W₂, W₁ (so they depend on the
 * trajectory, like LoRA-Dash's SVD bases) and a zero trainable `dash.d` appears.
 * Its checkpoint state holds U, V and the launched flag; restore recreates `d`.
 */
export class GrowingMlp implements TrainableModel {
  private readonly vars = new Map<string, tf.Variable>();
  private bases: { u: tf.Tensor2D; v: tf.Tensor2D } | undefined;
  readonly resetRequests: string[] = [];

  constructor(private readonly options: GrowingMlpOptions) {
    const { seed, inDim, hidden, outDim } = options;
    const rng = Rng.fromSeed(seed);
    this.vars.set('fc1.weight', variable('fc1.weight', tf.tensor2d(normals(rng, inDim * hidden, 1 / Math.sqrt(inDim)), [inDim, hidden])));
    this.vars.set('fc1.bias', variable('fc1.bias', tf.zeros([hidden])));
    this.vars.set('fc2.weight', variable('fc2.weight', tf.tensor2d(normals(rng, hidden * outDim, 1 / Math.sqrt(hidden)), [hidden, outDim])));
  }

  trainableVariables(): ReadonlyMap<string, tf.Variable> {
    return this.vars;
  }

  /** Whether the late variable exists. */
  get launched(): boolean {
    return this.bases !== undefined;
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const w1 = this.vars.get('fc1.weight') as tf.Variable;
      const h = tf.relu(tf.add(tf.matMul(x, w1), this.vars.get('fc1.bias') as tf.Variable));
      let y = tf.matMul(h, this.vars.get('fc2.weight') as tf.Tensor2D);
      const d = this.vars.get('dash.d');
      if (this.bases !== undefined && d !== undefined) {
        y = tf.add(y, tf.matMul(tf.mul(tf.matMul(x, this.bases.v), d), this.bases.u, false, true));
      }
      return y as tf.Tensor2D;
    });
  }

  afterOptimizerStep(completedSteps: number): void {
    if (completedSteps !== this.options.growAt) return;
    const s = this.options.directions ?? 2;
    // Bases from the current weights: column slices, normalised (trajectory-dependent like an SVD).
    const [u, v] = tf.tidy(() => {
      const w1 = this.vars.get('fc1.weight') as tf.Tensor2D;
      const w2 = this.vars.get('fc2.weight') as tf.Tensor2D;
      const v = tf.slice(w1, [0, 0], [-1, s]);
      const u = tf.transpose(tf.slice(w2, [0, 0], [s, -1]));
      return [tf.div(u, tf.norm(u)), tf.div(v, tf.norm(v))];
    }) as [tf.Tensor2D, tf.Tensor2D];
    this.launch(u, v);
  }

  consumeResetRequests(): readonly string[] {
    return this.resetRequests.splice(0);
  }

  checkpointState(): ModelCheckpointState {
    const tensors: Record<string, TensorData> = {};
    if (this.bases !== undefined) {
      tensors['dash.U'] = { shape: [...this.bases.u.shape], data: this.bases.u.dataSync() as Float32Array };
      tensors['dash.V'] = { shape: [...this.bases.v.shape], data: this.bases.v.dataSync() as Float32Array };
    }
    return { tensors, meta: { launched: this.bases !== undefined } };
  }

  restoreCheckpointState(state: ModelCheckpointState): void {
    if (state.meta.launched !== true) return;
    const u = state.tensors['dash.U'];
    const v = state.tensors['dash.V'];
    if (u === undefined || v === undefined) throw new Error('launched state without dash.U / dash.V');
    this.launch(tf.tensor2d(Float32Array.from(u.data), u.shape as [number, number]), tf.tensor2d(Float32Array.from(v.data), v.shape as [number, number]));
  }

  dispose(): void {
    tf.dispose([...this.vars.values()]);
    this.vars.clear();
    if (this.bases !== undefined) tf.dispose([this.bases.u, this.bases.v]);
    this.bases = undefined;
  }

  private launch(u: tf.Tensor2D, v: tf.Tensor2D): void {
    this.bases = { u, v };
    this.vars.set('dash.d', variable('dash.d', tf.zeros([u.shape[1]])));
  }
}

/** Mean squared error of the model on a batch (the trainer's `lossFn` in tests). */
export function mseLoss(model: GrowingMlp, batch: ToyBatch, inDim: number, outDim: number): tf.Scalar {
  const x = tf.tensor2d(batch.x, [batch.rows, inDim]);
  const y = tf.tensor2d(batch.y, [batch.rows, outDim]);
  return tf.mean(tf.square(tf.sub(model.forward(x), y)));
}
