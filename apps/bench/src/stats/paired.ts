import { meanCi, type MeanCi } from './summary.js';

/** A metric value of one seed's run. */
export interface SeedValue {
  seed: number;
  value: number;
}

/**
 * Seed-matched differences a − b with the mean's Student-t interval. Runs of
 * the same seed share the initialisation and the data order, so the pair's
 * difference removes that shared variation (a paired t test).
 */
export interface PairedDifference extends MeanCi {
  /** Seeds both sides finished with a finite value, ascending. */
  seeds: number[];
  /** a − b per seed, same order as `seeds`. */
  diffs: number[];
  /** Seeds where a < b, a > b and a = b. */
  aLower: number;
  aHigher: number;
  ties: number;
}

/**
 * Pairs `a` and `b` by seed (seeds present on one side only, or with a
 * non-finite value, are left out) and returns the mean difference a − b with
 * its paired Student-t interval at `level` (mean ± t_{(1+level)/2, n−1} ·
 * sd(d)/√n), and how many seeds favour each side. Fewer than 2 pairs give a
 * NaN interval, as {@link meanCi} does.
 */
export function pairedDifference(a: readonly SeedValue[], b: readonly SeedValue[], level = 0.95): PairedDifference {
  const bBySeed = new Map(b.filter((x) => Number.isFinite(x.value)).map((x) => [x.seed, x.value]));
  const pairs = a
    .filter((x) => Number.isFinite(x.value) && bBySeed.has(x.seed))
    .map((x) => ({ seed: x.seed, d: x.value - (bBySeed.get(x.seed) as number) }))
    .sort((p, q) => p.seed - q.seed);
  const diffs = pairs.map((p) => p.d);
  return {
    ...meanCi(diffs, level),
    seeds: pairs.map((p) => p.seed),
    diffs,
    aLower: diffs.filter((d) => d < 0).length,
    aHigher: diffs.filter((d) => d > 0).length,
    ties: diffs.filter((d) => d === 0).length,
  };
}
