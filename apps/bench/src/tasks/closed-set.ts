import type { TrainingExample } from '@tsd-peft/transformers';

/** Most distinct completions a labelled (classification) eval file may have. */
export const MAX_LABELS = 20;

/**
 * The label set of a classification eval file, or null when the file is not
 * one. It is one when every record is `{prompt, completion}`, its completions
 * take between 2 and {@link MAX_LABELS} distinct values, and each label is
 * used at least twice on average (distinct ≤ records / 2) — a file where most
 * completions are different is generation, whatever its size. Labels are
 * returned in order of first appearance, exactly as written (" yes" and
 * "yes" are different strings, as they are different tokens).
 */
export function closedLabelSet(records: readonly TrainingExample[]): string[] | null {
  const labels: string[] = [];
  for (const r of records) {
    if (!('completion' in r)) return null;
    if (!labels.includes(r.completion)) {
      labels.push(r.completion);
      if (labels.length > MAX_LABELS) return null;
    }
  }
  return labels.length >= 2 && labels.length <= records.length / 2 ? labels : null;
}

/** The majority-class baseline: the label a model that ignores the input would predict, and its eval accuracy. */
export interface MajorityClass {
  label: string;
  accuracy: number;
}

/**
 * The most frequent label among the training completions (the eval
 * completions when no training completion is a label; ties go to the label
 * listed first) and the eval accuracy of always predicting it.
 */
export function majorityClass(labels: readonly string[], train: readonly TrainingExample[], evalLabels: readonly string[]): MajorityClass {
  const count = (xs: readonly string[]): number[] => labels.map((l) => xs.filter((x) => x === l).length);
  const trainCounts = count(train.flatMap((r) => ('completion' in r ? [r.completion] : [])));
  const counts = trainCounts.some((c) => c > 0) ? trainCounts : count(evalLabels);
  const top = counts.indexOf(Math.max(...counts));
  const label = labels[top] as string;
  return { label, accuracy: evalLabels.length === 0 ? Number.NaN : evalLabels.filter((l) => l === label).length / evalLabels.length };
}
