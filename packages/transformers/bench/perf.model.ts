/**
 * The perf bench's model, data and methods, shared by the in-process runs,
 * the data-parallel workers and the profiler: the synthetic Llama of issue 7
 * (dim 256, 4 layers, 4 heads, SwiGLU 688, vocab 512, untied head) with
 * random weights, batches of 8 × 128 random tokens, Adam.
 *
 * Full fine-tuning trains every linear weight, lm_head included (embeddings
 * and norms frozen), in TF.js and in PyTorch (perf.torch.py) alike, so both
 * do the same work; LoRA is r = 8 (alpha 16) on q/k/v/o; LoRA-Dash adds
 * s = 8 directions, launched after t = 1 step so that every timed step runs
 * in the dash phase.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type FrozenDtype } from '@tsd-peft/core';
import type { AdapterConfig, AdapterModel } from '@tsd-peft/tfjs';
import type { ReplicaContext, ReplicaJob } from '@tsd-peft/tfjs/node';
import { causalLmReplicaJob } from '../src/parallel/causal-lm-job.js';
import { randomCausalLM } from '../src/parallel/random-model.js';
import type { TokenBatch } from '../src/training/data.js';
import { REAL_SHAPES, scaleAdapterFor, type ScaleMethod, type ShapeName } from './perf.shapes.js';

export const PERF_CONFIG = {
  model_type: 'llama',
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 512,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
} as const;

export const BATCH = 8;
export const SEQ = 128;
export const LR = 1e-4;

/** Bench methods by name ('lora-all' only at real shapes). */
export type PerfMethod = 'full' | 'lora' | 'lora-dash' | ScaleMethod;

/** Adapter config of each method. */
export function adapterFor(method: 'full' | 'lora' | 'lora-dash'): AdapterConfig {
  const attn = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  if (method === 'full') return { method: 'full', targetModules: [...attn, 'gate_proj', 'up_proj', 'down_proj', 'lm_head'] };
  if (method === 'lora') return { method: 'lora', r: 8, alpha: 16, targetModules: attn };
  return { method: 'lora-dash', r: 8, alpha: 16, s: 8, t: 1, targetModules: attn };
}

/**
 * Global batch i: 8 rows of 128 uniform random tokens, every target counted;
 * with `rows` < 8, its first rows (a data-parallel replica's share, for the
 * side-by-side ceiling measurement).
 */
export function perfBatch(i: number, rows = BATCH, shape: BatchShape = { batch: BATCH, seq: SEQ, vocab: PERF_CONFIG.vocab_size }): TokenBatch {
  const { batch, seq, vocab } = shape;
  const rng = Rng.fromSeed(9000 + i);
  const inputIds = Int32Array.from({ length: batch * seq }, () => rng.nextInt(vocab)).subarray(0, rows * seq);
  const attentionMask = new Int32Array(rows * seq).fill(1);
  const lossMask = new Int32Array(rows * seq).fill(1);
  for (let j = 0; j < rows; j++) lossMask[j * seq] = 0;
  return { batch: rows, seq, inputIds, attentionMask, lossMask, tokens: rows * (seq - 1) };
}

/** The global batch's rows, sequence length and vocabulary. */
export interface BatchShape {
  batch: number;
  seq: number;
  vocab: number;
}

/** What the bench passes to workers. */
export interface PerfJobOptions {
  method: PerfMethod;
  steps: number;
  /** Rows of the global batch to train on (default: all of it). */
  rows?: number;
  /** A real model shape (perf.shapes.ts) instead of the toy model, with its batch and sequence length. */
  shape?: { name: ShapeName; batch: number; seq: number };
  /** Recompute each decoder layer in the backward pass. */
  gradientCheckpointing?: boolean;
  /** The adapter config's `pretransposeFrozen` (default: the backend's preference). */
  pretransposeFrozen?: boolean;
  /** Element type of the frozen 2-D weights (default float32; bfloat16 / int8 are `ReducedWeight`s). */
  frozenDtype?: FrozenDtype;
}

/** The wasm heap's current size: it only grows, so at the end of a run it is the run's peak. */
export function wasmHeapBytes(): number {
  const backend = tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown }; HEAPU8?: Uint8Array } };
  const memory = backend.wasm?.asm?.memory;
  if (memory instanceof WebAssembly.Memory) return memory.buffer.byteLength;
  return backend.wasm?.HEAPU8?.byteLength ?? 0;
}

/** The job of one replica (or of the whole batch when worldSize is 1). */
export function perfJob(context: ReplicaContext): ReplicaJob<TokenBatch, number> {
  const o = context.workerData as PerfJobOptions;
  const shape = o.shape;
  const config = shape === undefined ? PERF_CONFIG : REAL_SHAPES[shape.name];
  const batchShape: BatchShape = shape === undefined ? { batch: BATCH, seq: SEQ, vocab: PERF_CONFIG.vocab_size } : { ...shape, vocab: config.vocab_size };
  const { replica, weights } = randomCausalLM(config, 42, o.frozenDtype ?? 'float32');
  if (o.gradientCheckpointing === true) replica.gradientCheckpointingEnable();
  return causalLmReplicaJob(context, {
    replica,
    weights,
    adapter: {
      ...(shape === undefined ? adapterFor(o.method as 'full' | 'lora' | 'lora-dash') : scaleAdapterFor(o.method as ScaleMethod)),
      ...(o.pretransposeFrozen === undefined ? {} : { pretransposeFrozen: o.pretransposeFrozen }),
    },
    batchAt: (i) => perfBatch(i, o.rows ?? batchShape.batch, batchShape),
    steps: o.steps,
    lr: LR,
    optimizer: { type: 'adam' },
    collect: (_result, adapter: AdapterModel) => ({ launched: adapter.tsdSelections().size, wasmHeapBytes: wasmHeapBytes() }),
  });
}
