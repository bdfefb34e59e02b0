import type { MeanCi } from '../stats/summary.js';
import { fmtCi, summarize, taskInfo, type GroupSummary } from './aggregate.js';
import type { MethodName, ResultsFile } from './schema.js';

/** The verdict of one comparison. */
export type Verdict = 'reproduced' | 'not reproduced' | 'inconclusive (CIs overlap)' | 'inconclusive (fewer than 2 seeds)';

/** One challenger-vs-baseline comparison on one task. */
export interface Comparison {
  task: string;
  challenger: { method: MethodName; r: number; ci: MeanCi };
  baseline: { method: MethodName; r: number; ci: MeanCi };
  verdict: Verdict;
  /** e.g. "lora-dash r8 3.41 ± 0.01 vs lora r8 3.42 ± 0.01 (val NLL, lower is better)". */
  detail: string;
}

/** A paper claim with its comparisons and an overall verdict line. */
export interface ClaimVerdict {
  id: string;
  claim: string;
  /** What the paper reports. */
  paper: string;
  comparisons: Comparison[];
  /** "reproduced", "not reproduced", "inconclusive (…)" or "not tested (…)". */
  overall: string;
}

/**
 * Whether `challenger` beats `baseline`: decided only when both have a 95% CI
 * (≥ 2 seeds) and the intervals do not overlap — a conservative rule (two
 * disjoint 95% intervals imply p < 0.01 for the difference), so "reproduced"
 * and "not reproduced" are strong statements and everything else is
 * reported as inconclusive.
 */
export function compare(challenger: MeanCi, baseline: MeanCi, better: 'lower' | 'higher'): Verdict {
  if (challenger.n < 2 || baseline.n < 2) return 'inconclusive (fewer than 2 seeds)';
  if (challenger.hi < baseline.lo) return better === 'lower' ? 'reproduced' : 'not reproduced';
  if (challenger.lo > baseline.hi) return better === 'higher' ? 'reproduced' : 'not reproduced';
  return 'inconclusive (CIs overlap)';
}

interface ClaimSpec {
  id: string;
  claim: string;
  paper: string;
  challenger: MethodName;
  baseline: MethodName;
  /** The challenger's rank for a baseline rank r, or null when it does not apply. */
  challengerRank: (r: number) => number | null;
  untested: string;
}

const CLAIMS: readonly ClaimSpec[] = [
  {
    id: 'dash-equal-rank',
    claim: 'LoRA-Dash beats LoRA at equal rank',
    paper: 'LLaMA-7B commonsense average 78.4 vs 74.7, both r = 32',
    challenger: 'lora-dash',
    baseline: 'lora',
    challengerRank: (r) => r,
    untested: 'run lora and lora-dash at the same r',
  },
  {
    id: 'dash-r-over-8',
    claim: 'LoRA-Dash at r/8 beats LoRA at r',
    paper: 'LLaMA-7B commonsense average 75.7 (r = 4) vs 74.7 (r = 32)',
    challenger: 'lora-dash',
    baseline: 'lora',
    challengerRank: (r) => (r % 8 === 0 ? r / 8 : null),
    untested: 'run --preset efficiency',
  },
  {
    id: 'init-improves',
    claim: 'LoRA-Init improves on LoRA',
    paper: 'Si et al. §5: initialising LoRA from the task-specific directions beats LoRA',
    challenger: 'lora-init',
    baseline: 'lora',
    challengerRank: (r) => r,
    untested: 'run lora and lora-init at the same r',
  },
  {
    id: 'tsd-improves',
    claim: 'LoRA-TSD improves on LoRA',
    paper: 'Si et al. §5: LoRA-Init + LoRA-Dash combined beats LoRA',
    challenger: 'lora-tsd',
    baseline: 'lora',
    challengerRank: (r) => r,
    untested: 'run lora and lora-tsd at the same r',
  },
];

/**
 * Overall verdict of a claim over its comparisons (one per task and rank): a
 * decisive verdict needs a strict majority of comparisons and no decisive
 * comparison the other way; otherwise it is inconclusive, and says whether
 * the decisive comparisons disagreed.
 */
export function overallVerdict(verdicts: readonly Verdict[], untested: string): string {
  const total = verdicts.length;
  if (total === 0) return `not tested (${untested})`;
  const yes = verdicts.filter((v) => v === 'reproduced').length;
  const no = verdicts.filter((v) => v === 'not reproduced').length;
  if (yes > total / 2 && no === 0) return 'reproduced';
  if (no > total / 2 && yes === 0) return 'not reproduced';
  if (yes > 0 && no > 0) return 'inconclusive (mixed: reproduced on some tasks, contradicted on others)';
  if (verdicts.every((v) => v === 'inconclusive (fewer than 2 seeds)')) return 'inconclusive (fewer than 2 seeds)';
  return 'inconclusive (CIs overlap)';
}

/** Judges each paper claim on the finished runs of `results` (final primary metric). */
export function judgeClaims(results: ResultsFile, groups: readonly GroupSummary[] = summarize(results)): ClaimVerdict[] {
  return CLAIMS.map((spec) => {
    const comparisons: Comparison[] = [];
    for (const base of groups) {
      if (base.method !== spec.baseline || base.runs.length === 0) continue;
      const rank = spec.challengerRank(base.r);
      if (rank === null) continue;
      const chal = groups.find((g) => g.task === base.task && g.method === spec.challenger && g.r === rank && g.runs.length > 0);
      if (chal === undefined) continue;
      const metric = taskInfo(results, base.task).metric;
      const verdict = compare(chal.final, base.final, metric.better);
      const detail = `${chal.method} r${chal.r} ${fmtCi(chal.final)} vs ${base.method} r${base.r} ${fmtCi(base.final)} (${metric.label}, ${metric.better} is better)`;
      comparisons.push({
        task: base.task,
        challenger: { method: chal.method, r: chal.r, ci: chal.final },
        baseline: { method: base.method, r: base.r, ci: base.final },
        verdict,
        detail,
      });
    }
    return {
      id: spec.id,
      claim: spec.claim,
      paper: spec.paper,
      comparisons,
      overall: overallVerdict(comparisons.map((c) => c.verdict), spec.untested),
    };
  });
}
