import { Rng } from '@tsd-peft/core';
import { exactMatchAccuracy, type GenerationExample } from '../eval/exact-match.js';
import { completionRow } from '../eval/label-scoring.js';
import type { LoadedTask, MetricSpec, TaskContext, TaskDefinition, TaskName } from './types.js';

/** Seeds of the generated splits: fixed, so every run trains and evaluates on the same sets. */
const TRAIN_SEED = 11;
const EVAL_SEED = 12;

/** Exact match under greedy decoding (higher is better). */
export const EXACT_MATCH: MetricSpec = {
  key: 'exact_match',
  label: 'exact match',
  better: 'higher',
  description: 'fraction of held-out prompts whose greedy continuation, cut at the first newline and trimmed, equals the answer',
};

/** A generated example: prompt, answer (without the leading space and newline of the completion). */
export type Generator = (rng: Rng) => GenerationExample;

/** "a+b=" → " c": two-digit operands, so sums have two or three digits. */
export const additionExample: Generator = (rng) => {
  const a = 10 + rng.nextInt(90);
  const b = 10 + rng.nextInt(90);
  return { prompt: `${a}+${b}=`, answer: String(a + b) };
};

/** Short common words the reversal task draws from (known to a TinyStories model). */
export const REVERSAL_WORDS = [
  'cat',
  'dog',
  'sun',
  'tree',
  'ball',
  'bird',
  'fish',
  'cake',
  'moon',
  'star',
  'park',
  'red',
  'blue',
  'big',
  'hat',
  'box',
  'car',
  'toy',
  'bed',
  'cup',
  'girl',
  'boy',
  'mom',
  'dad',
  'book',
  'door',
  'rain',
  'frog',
] as const;

/** "reverse: w1 w2 w3 =" → " w3 w2 w1". */
export const reversalExample: Generator = (rng) => {
  const words = [0, 1, 2].map(() => REVERSAL_WORDS[rng.nextInt(REVERSAL_WORDS.length)] as string);
  return { prompt: `reverse: ${words.join(' ')} =`, answer: [...words].reverse().join(' ') };
};

/**
 * `n` distinct examples from `gen` seeded by `seed`, skipping prompts in
 * `exclude` (so the evaluation set never overlaps the training set). Stops
 * early if the space is exhausted.
 */
export function generateExamples(gen: Generator, n: number, seed: number, exclude: ReadonlySet<string> = new Set()): GenerationExample[] {
  const rng = Rng.fromSeed(seed);
  const seen = new Set(exclude);
  const out: GenerationExample[] = [];
  for (let tries = 0; out.length < n && tries < n * 50; tries++) {
    const ex = gen(rng);
    if (seen.has(ex.prompt)) continue;
    seen.add(ex.prompt);
    out.push(ex);
  }
  return out;
}

function syntheticTask(name: TaskName, gen: Generator, description: string): TaskDefinition {
  return {
    name,
    description,
    metric: EXACT_MATCH,
    realData: false,
    async load({ tokenizer, sizes }: TaskContext): Promise<LoadedTask> {
      const train = generateExamples(gen, sizes.trainExamples, TRAIN_SEED);
      const evalSet = generateExamples(gen, sizes.evalExamples, EVAL_SEED, new Set(train.map((e) => e.prompt)));
      // The completion ends in "\n" so the model learns where the answer stops.
      const rows = train.map((ex) => completionRow(tokenizer, ex.prompt, ` ${ex.answer}\n`, sizes.seqLen));
      const maxAnswerTokens = Math.max(...evalSet.map((ex) => tokenizer.encode(` ${ex.answer}\n`, { addBos: false }).length));
      return {
        name,
        metric: EXACT_MATCH,
        secondary: [],
        train: { kind: 'rows', rows },
        sources: [`generated in code (train seed ${TRAIN_SEED}, eval seed ${EVAL_SEED})`],
        evalSize: evalSet.length,
        async evaluate(model) {
          const { exactMatch } = await exactMatchAccuracy(model, tokenizer, evalSet, maxAnswerTokens + 2);
          return { exact_match: exactMatch };
        },
      };
    },
  };
}

/** Two-digit addition, exact match under greedy decoding. */
export const additionTask = syntheticTask(
  'addition',
  additionExample,
  'Synthetic 2-digit addition generated in code ("47+38=" → " 85"); metric: exact match of the greedy answer on held-out sums disjoint from training.',
);

/** Three-word reversal, exact match under greedy decoding. */
export const reversalTask = syntheticTask(
  'reversal',
  reversalExample,
  'Synthetic word reversal generated in code ("reverse: cat sun dog =" → " dog sun cat"); metric: exact match of the greedy answer on held-out prompts disjoint from training.',
);
