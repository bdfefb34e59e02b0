/**
 * Shared pieces of the ONNX tests: fixture paths, reference logits, the
 * onnxruntime-node that transformers.js itself loads, and a plain forward of
 * the stories260K graph with an empty KV cache (as in check-transformersjs.json).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseSafetensors, tensorToFloat32, type LoraFactors } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';

/** onnxruntime-node's API, typed as far as the tests use it. */
export interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}
/** The subset of onnxruntime-node's InferenceSession the tests use. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
/** The subset of the onnxruntime-node module the tests use. */
export interface OrtModule {
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => unknown;
  InferenceSession: { create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
}

const fromHere = createRequire(import.meta.url);
/** The same onnxruntime-node copy that @huggingface/transformers loads. */
export const ort = createRequire(fromHere.resolve('@huggingface/transformers'))('onnxruntime-node') as OrtModule;

/** The transformers.js folder of the stories260K export. */
export const storiesDir = (): string => fixturePath('reference', 'onnx', 'stories260K');
/** Its `onnx/model.onnx` bytes. */
export const storiesModelBytes = (): Uint8Array => new Uint8Array(readFileSync(fixturePath('reference', 'onnx', 'stories260K', 'onnx', 'model.onnx')));

/** All 35 adapted modules of the PEFT fixtures (7 projections × 5 layers). */
export const STORIES_MODULES: readonly string[] = Array.from({ length: 5 }, (_, l) =>
  ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((m) => `model.layers.${l}.${m}`),
).flat();

/** Token ids of inputs.json (input1: BOS + "Once upon a time"; input2: 64 Shakespeare tokens). */
export function referenceIds(name: 'input1' | 'input2'): number[] {
  const inputs = JSON.parse(readFileSync(fixturePath('reference', 'inputs.json'), 'utf8')) as Record<string, { ids: number[] }>;
  return (inputs[name] as { ids: number[] }).ids;
}

/** A float32 tensor of a reference safetensors file, e.g. `referenceTensor(['peft-lora','logits.safetensors'], 'merged.input1')`. */
export function referenceTensor(parts: readonly string[], name: string): Float32Array {
  const file = fixturePath('reference', ...parts);
  const st = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const t = st.tensors.get(name);
  if (t === undefined) throw new Error(`${name} not in ${file}`);
  return tensorToFloat32(t, name);
}

/** Feeds for one sequence with an empty past (stories260K: 5 layers, 4 kv heads, head dim 8). */
export function storiesFeeds(ids: readonly number[]): Record<string, unknown> {
  const n = ids.length;
  const feeds: Record<string, unknown> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
      [1, n],
    ),
  };
  for (let i = 0; i < 5; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
  return feeds;
}

/** Logits [n, 512] of one sequence through a session. */
export async function storiesLogits(session: OrtSession, ids: readonly number[]): Promise<Float32Array> {
  const out = await session.run(storiesFeeds(ids));
  return (out.logits as OrtTensor).data as Float32Array;
}

/** max |a − b| over equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/**
 * The plain-LoRA run of `lora-dash-trajectory/` (final_lora.safetensors): q_proj and
 * v_proj of the 5 layers, r = 4, scaling 2 (its config.json). A mild, trained adapter.
 */
export function trajectoryPlainLora(): Map<string, LoraFactors> {
  const file = fixturePath('reference', 'lora-dash-trajectory', 'final_lora.safetensors');
  const st = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const get = (k: string): Float32Array => tensorToFloat32(st.tensors.get(k)!, k);
  const out = new Map<string, LoraFactors>();
  for (let l = 0; l < 5; l++) {
    for (const [p, rows] of [
      ['q_proj', 64],
      ['v_proj', 32],
    ] as const) {
      const m = `model.layers.${l}.self_attn.${p}`;
      out.set(m, {
        A: { rows: 4, cols: 64, data: get(`base_model.model.${m}.lora_A.weight`) },
        B: { rows, cols: 4, data: get(`base_model.model.${m}.lora_B.weight`) },
        scaling: 2,
      });
    }
  }
  return out;
}
