import { studentTQuantile } from './student-t.js';

/** Mean and two-sided confidence interval of a sample. */
export interface MeanCi {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1 denominator); NaN for n < 2. */
  sd: number;
  /** Half-width t_{(1+level)/2, n−1} · sd/√n; NaN for n < 2 (no interval from one seed). */
  halfWidth: number;
  lo: number;
  hi: number;
}

/**
 * Mean ± Student-t confidence interval (default 95%) over seeds: the interval
 * for the mean of a normal sample with unknown variance. Non-finite values
 * are dropped first (a diverged run has no metric), so `n` counts the rest.
 */
export function meanCi(values: readonly number[], level = 0.95): MeanCi {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  const mean = n === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: Number.NaN, halfWidth: Number.NaN, lo: Number.NaN, hi: Number.NaN };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const halfWidth = studentTQuantile((1 + level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth };
}
