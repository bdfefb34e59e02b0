import { logGamma, studentTQuantile } from './student-t.js';

/**
 * The standard normal CDF Φ(x), via the complementary error function's
 * Chebyshev fit (Numerical Recipes' erfcc, relative error < 1.2e-7 everywhere;
 * ample for a power calculation).
 */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
}

/**
 * Power of the two-sided one-sample (paired) t test at `level` with `df`
 * degrees of freedom when the true standardized shift is `lambda` = δ√n/σ
 * (the noncentrality): P(|T'| > t_crit) for T' = (Z + λ)/√(V/df), V ~ χ²_df.
 * Conditioning on W = √V (a chi variable, density ∝ w^{df−1} e^{−w²/2})
 * leaves normal tails, integrated over w by Simpson's rule on 4000 panels
 * (the w-substitution removes χ²₁'s singularity at 0).
 */
export function pairedTPower(lambda: number, df: number, level = 0.95): number {
  const tc = studentTQuantile((1 + level) / 2, df);
  const logNorm = Math.log(2) - (df / 2) * Math.log(2) - logGamma(df / 2);
  const density = (w: number): number => (w <= 0 ? (df === 1 ? Math.exp(logNorm) : 0) : Math.exp(logNorm + (df - 1) * Math.log(w) - (w * w) / 2));
  const reject = (w: number): number => {
    const cut = tc * (w / Math.sqrt(df));
    return normalCdf(lambda - cut) + normalCdf(-cut - lambda);
  };
  const hi = Math.sqrt(df) + 12; // the chi density is < 1e-30 beyond
  const panels = 4000;
  const h = hi / panels;
  let sum = 0;
  for (let i = 0; i <= panels; i++) {
    const w = i * h;
    const weight = i === 0 || i === panels ? 1 : i % 2 === 1 ? 4 : 2;
    sum += weight * density(w) * reject(w);
  }
  return (sum * h) / 3;
}

/**
 * The smallest standardized difference δ/σ_d that a paired t test over `n`
 * seeds detects with probability `power` at two-sided `level` (Cohen's d_z):
 * solves power(d·√n) = `power` by bisection. E.g. n = 10 → 0.996 (as
 * G*Power and R's pwr.t.test give).
 */
export function pairedDetectableEffect(n: number, level = 0.95, power = 0.8): number {
  if (!(n >= 2)) return Number.NaN;
  const df = n - 1;
  let lo = 0;
  let hi = 1;
  while (pairedTPower(hi * Math.sqrt(n), df, level) < power) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (pairedTPower(mid * Math.sqrt(n), df, level) < power) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The smallest true mean difference (in the metric's units) that `n` paired
 * seeds detect with probability `power`, when seed-matched differences have
 * standard deviation `sdDiff`: {@link pairedDetectableEffect} × sdDiff.
 */
export function minDetectableDifference(sdDiff: number, n: number, level = 0.95, power = 0.8): number {
  return pairedDetectableEffect(n, level, power) * sdDiff;
}
