/**
 * The Optimum-export fixtures (reference/onnx-optimum/<case>): paths and the
 * PyTorch reference of each case (ref.json: ids, base/unmerged/merged logits
 * [7, 512], HF greedy continuations).
 */
import { readFileSync } from 'node:fs';
import { fixturePath } from '@tsd-peft/core/testing';

/** The three architectures: tied Llama with GQA, Qwen2 with q/k/v biases, GPT-2 with Gemm-based Conv1D. */
export const OPTIMUM_CASES = ['llama-gqa-tied', 'qwen2-bias-gqa', 'gpt2'] as const;
export type OptimumCase = (typeof OPTIMUM_CASES)[number];

/** PyTorch fp32 reference of one case, logits flattened row-major. */
export interface OptimumRef {
  readonly ids: number[];
  readonly vocab: number;
  readonly base: Float32Array;
  readonly unmerged: Float32Array;
  readonly merged: Float32Array;
  readonly baseGreedy: number[];
  readonly mergedGreedy: number[];
}

/** `reference/onnx-optimum/<name>/<parts…>`. */
export const optimumPath = (name: OptimumCase, ...parts: string[]): string => fixturePath('reference', 'onnx-optimum', name, ...parts);

/** Reads `ref.json` of a case (fails with the fixture helper's message when it is missing). */
export function optimumRef(name: OptimumCase): OptimumRef {
  const raw = JSON.parse(readFileSync(optimumPath(name, 'ref.json'), 'utf8')) as Record<string, unknown>;
  const flat = (k: string): Float32Array => Float32Array.from((raw[k] as number[][]).flat());
  const base = raw['base_logits'] as number[][];
  return {
    ids: raw['ids'] as number[],
    vocab: (base[0] as number[]).length,
    base: flat('base_logits'),
    unmerged: flat('unmerged_logits'),
    merged: flat('merged_logits'),
    baseGreedy: raw['base_greedy'] as number[],
    mergedGreedy: raw['merged_greedy'] as number[],
  };
}
