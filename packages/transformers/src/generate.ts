import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NonFiniteError, Rng } from '@tsd-peft/core';
import type { CausalLMInputs } from './models/types.js';

/** A forward to generate with: ids/mask in, logits `[B, T, V]` out. */
export type ForwardFn = (inputs: CausalLMInputs) => tf.Tensor3D;

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** New tokens per row at most (default 20). */
  maxNewTokens?: number;
  /** Absent or 0: greedy (argmax, first index on ties, as torch). Otherwise logits are divided by it and sampled. */
  temperature?: number;
  /** When sampling, keep only the k most likely tokens (ties with the k-th kept, as HF's TopKLogitsWarper). */
  topK?: number;
  /** Random source for sampling (core's seeded Rng); default `Rng.fromSeed(seed ?? 0)`. */
  rng?: Rng;
  seed?: number;
  /** Ids that end a row (kept in the output); default none. */
  eosTokenIds?: readonly number[];
  /** Filler for right padding while rows differ in length (any valid id; masked out). Default 0. */
  padTokenId?: number;
}

/** Result of {@link generate}, one entry per prompt. */
export interface GenerateResult {
  /** Prompt followed by the new tokens. */
  sequences: number[][];
  /** The new tokens only. */
  newTokens: number[][];
  /** True where the row stopped on an EOS id. */
  stoppedOnEos: boolean[];
}

/**
 * Autoregressive decoding by full recomputation: every step runs the whole
 * (right-padded, masked) batch of unfinished rows through `forward` and reads
 * each row's logits at its last real position. There is no KV cache, so a
 * step costs a full forward over the sequence (O(T²) attention per step);
 * that is fine for the small models trained here and keeps the replica a pure
 * function. Tensors are freed every step. Async because each step reads the
 * logits back with `await data()`, the only read the webgpu backend supports.
 */
export async function generate(forward: ForwardFn, prompts: readonly (readonly number[])[], options: GenerateOptions = {}): Promise<GenerateResult> {
  const maxNew = options.maxNewTokens ?? 20;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new ConfigError(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new ConfigError(`temperature must be ≥ 0, got ${temperature}`);
  if (options.topK !== undefined && (!Number.isInteger(options.topK) || options.topK < 1)) {
    throw new ConfigError(`topK must be a positive integer, got ${options.topK}`);
  }
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw new ConfigError('every prompt needs at least one token');
  const rng = options.rng ?? Rng.fromSeed(options.seed ?? 0);
  const eos = new Set(options.eosTokenIds ?? []);
  const pad = options.padTokenId ?? 0;

  const sequences = prompts.map((p) => [...p]);
  const newTokens: number[][] = prompts.map(() => []);
  const stoppedOnEos = prompts.map(() => false);
  let active = prompts.map((_, i) => i);
  for (let step = 0; step < maxNew && active.length > 0; step++) {
    const rows = active.map((i) => sequences[i] as number[]);
    const logits = await lastPositionLogits(forward, rows, pad);
    const vocab = logits.length / rows.length;
    active.forEach((row, r) => {
      const scores = logits.subarray(r * vocab, (r + 1) * vocab);
      const token = temperature === 0 ? argmax(scores, row) : sample(scores, temperature, options.topK, rng, row);
      (sequences[row] as number[]).push(token);
      (newTokens[row] as number[]).push(token);
      if (eos.has(token)) stoppedOnEos[row] = true;
    });
    active = active.filter((i) => !stoppedOnEos[i]);
  }
  return { sequences, newTokens, stoppedOnEos };
}

/** Logits `[rows, V]` at each row's last real token, flattened (an awaited read: `dataSync` fails on webgpu). */
async function lastPositionLogits(forward: ForwardFn, rows: readonly number[][], pad: number): Promise<Float32Array> {
  const maxLen = Math.max(...rows.map((r) => r.length));
  const ids = rows.map((r) => [...r, ...new Array<number>(maxLen - r.length).fill(pad)]);
  const mask = rows.map((r) => [...new Array<number>(r.length).fill(1), ...new Array<number>(maxLen - r.length).fill(0)]);
  const picked = tf.tidy(() => {
    const logits = forward({ inputIds: ids, ...(rows.every((r) => r.length === maxLen) ? {} : { attentionMask: mask }) });
    const [b, t, v] = logits.shape;
    const index = tf.tensor1d(
      rows.map((r, i) => i * t + r.length - 1),
      'int32',
    );
    return tf.gather(tf.reshape(logits, [b * t, v]), index);
  });
  try {
    return (await picked.data()) as Float32Array;
  } finally {
    picked.dispose();
  }
}

function argmax(scores: Float32Array, row: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i] as number;
    if (Number.isNaN(s)) throw new NonFiniteError(`NaN logit at vocabulary index ${i} of row ${row}`, { tensor: 'logits' });
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  }
  return best;
}

/** Temperature + top-k sampling in float64 (softmax with max subtraction). */
function sample(scores: Float32Array, temperature: number, topK: number | undefined, rng: Rng, row: number): number {
  const n = scores.length;
  const scaled = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = scores[i] as number;
    if (Number.isNaN(s)) throw new NonFiniteError(`NaN logit at vocabulary index ${i} of row ${row}`, { tensor: 'logits' });
    scaled[i] = s / temperature;
  }
  let threshold = -Infinity;
  if (topK !== undefined && topK < n) threshold = [...scaled].sort((a, b) => b - a)[topK - 1] as number;
  let max = -Infinity;
  for (const s of scaled) if (s >= threshold && s > max) max = s;
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = scaled[i] as number;
    const w = s >= threshold ? Math.exp(s - max) : 0;
    weights[i] = w;
    total += w;
  }
  let u = rng.nextFloat() * total;
  for (let i = 0; i < n; i++) {
    u -= weights[i] as number;
    if (u < 0) return i;
  }
  // rounding left u ≥ 0 after the last bucket: return the last token with weight
  for (let i = n - 1; i >= 0; i--) if ((weights[i] as number) > 0) return i;
  return argmax(scores, row);
}
