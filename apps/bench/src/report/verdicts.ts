import { pairedDifference, type PairedDifference, type SeedValue } from '../stats/paired.js';
import type { MeanCi } from '../stats/summary.js';
import { fmt, fmtCi, metricOf, summarize, taskInfo, type GroupSummary } from './aggregate.js';
import type { MethodName, ResultsFile } from './schema.js';

/** The verdict of one comparison. */
export type Verdict = 'reproduced' | 'not reproduced' | 'inconclusive (paired interval includes 0)' | 'inconclusive (CIs overlap)' | 'inconclusive (fewer than 2 seeds)';

/** One challenger-vs-baseline comparison on one task. */
export interface Comparison {
  task: string;
  challenger: { method: MethodName; r: number; ci: MeanCi };
  baseline: { method: MethodName; r: number; ci: MeanCi };
  /** Seed-matched differences challenger − baseline; null when fewer than 2 seeds are shared (then the unpaired rule decides). */
  paired: PairedDifference | null;
  verdict: Verdict;
  /** e.g. "lora-dash r8 − lora r8 = −0.0035 [−0.0086, 0.0016] over 3 paired seeds (3 favour lora-dash, 0 lora); …". */
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
 * The unpaired rule, for runs that share fewer than 2 seeds.
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

/**
 * Whether the challenger beats the baseline on seed-matched differences
 * d = challenger − baseline: decided when the paired 95% interval of the
 * mean difference excludes 0 (a two-sided paired t test at α = 0.05), in the
 * metric's direction; inconclusive when it includes 0 or fewer than 2 seeds
 * pair up.
 */
export function comparePaired(diff: PairedDifference, better: 'lower' | 'higher'): Verdict {
  if (diff.n < 2 || !Number.isFinite(diff.halfWidth)) return 'inconclusive (fewer than 2 seeds)';
  const challengerLower = diff.hi < 0;
  const challengerHigher = diff.lo > 0;
  if (!challengerLower && !challengerHigher) return 'inconclusive (paired interval includes 0)';
  return challengerLower === (better === 'lower') ? 'reproduced' : 'not reproduced';
}

/** The primary metric of each finished run of a group, by seed. */
function seedValues(g: GroupSummary): SeedValue[] {
  return g.runs.map((r) => ({ seed: r.config.seed, value: metricOf(r.final, r.primary) }));
}

/**
 * Judges one challenger-vs-baseline pair of groups: paired on shared seeds
 * (same initialisation and data order) when at least 2 seeds pair up, by the
 * unpaired {@link compare} rule otherwise.
 */
export function compareGroups(chal: GroupSummary, base: GroupSummary, metric: { label: string; better: 'lower' | 'higher' }): Pick<Comparison, 'paired' | 'verdict' | 'detail'> {
  const diff = pairedDifference(seedValues(chal), seedValues(base));
  const c = `${chal.method} r${chal.r}`;
  const b = `${base.method} r${base.r}`;
  const means = `${c} ${fmtCi(chal.final)} vs ${b} ${fmtCi(base.final)} (${metric.label}, ${metric.better} is better)`;
  if (diff.n < 2 || !Number.isFinite(diff.halfWidth)) {
    return { paired: null, verdict: compare(chal.final, base.final, metric.better), detail: `${means}; unpaired (fewer than 2 shared seeds)` };
  }
  const [chalWins, baseWins] = metric.better === 'lower' ? [diff.aLower, diff.aHigher] : [diff.aHigher, diff.aLower];
  const ties = diff.ties > 0 ? `, ${diff.ties} tied` : '';
  const detail = `${c} − ${b} = ${fmtDiff(diff)} over ${diff.n} paired seeds (${chalWins} favour ${chal.method}, ${baseWins} favour ${base.method}${ties}); ${means}`;
  return { paired: diff, verdict: comparePaired(diff, metric.better), detail };
}

/** A difference with an explicit sign, 2 significant digits. */
export function fmtSigned(x: number): string {
  return x > 0 ? `+${fmt(x, 2)}` : fmt(x, 2);
}

/** "mean [lo, hi]" of a paired difference, with explicit signs. */
export function fmtDiff(d: PairedDifference): string {
  return `${fmtSigned(d.mean)} [${fmtSigned(d.lo)}, ${fmtSigned(d.hi)}]`;
}

/** A paper claim: which method beats which, at which rank. */
export interface ClaimSpec {
  id: string;
  claim: string;
  paper: string;
  challenger: MethodName;
  baseline: MethodName;
  /** The challenger's rank for a baseline rank r, or null when it does not apply. */
  challengerRank: (r: number) => number | null;
  untested: string;
}

/** The paper's claims the bench judges. */
export const CLAIMS: readonly ClaimSpec[] = [
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
  return verdicts.find((v) => v.startsWith('inconclusive') && v !== 'inconclusive (fewer than 2 seeds)') ?? 'inconclusive (CIs overlap)';
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
      comparisons.push({
        task: base.task,
        challenger: { method: chal.method, r: chal.r, ci: chal.final },
        baseline: { method: base.method, r: base.r, ci: base.final },
        ...compareGroups(chal, base, metric),
      });
    }
    return {
      id: spec.id,
      claim: spec.claim,
      paper: spec.paper,
      comparisons,
      overall: overallVerdict(
        comparisons.map((c) => c.verdict),
        spec.untested,
      ),
    };
  });
}
