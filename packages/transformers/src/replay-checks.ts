/**
 * Comparisons of a replayed trajectory against its reference: the measures
 * and pass/fail checks of `replayTrajectory`, kept apart from the training.
 */

/** One pass/fail comparison with its tolerance. */
export interface ReplayCheck {
  /** e.g. `loss.lora_dash`, `launch.indices`, `final.lora_dash.d`, `logits.lora.input2`. */
  name: string;
  /** The measured difference (see `definition`). */
  value: number;
  tolerance: number;
  passed: boolean;
  /** How `value` is defined, and where the worst case is. */
  definition: string;
}

/** Tolerances of the fidelity bar (issue 4 and the fixture README). */
export const REPLAY_TOLERANCES = {
  /**
   * Per-step loss, absolute. Both sides are fp32; the fixture's own torch 1.13
   * vs 2.11 re-run agrees to 9.5e-7, so 1e-4 leaves room for tfjs's different
   * summation order across 40 steps of Adam.
   */
  loss: 1e-4,
  /** Final A, B and d: max|x − ref| / max|ref| per tensor, worst module. */
  relative: 1e-3,
  /** Final logits on input2, absolute (logits are O(10); 1e-3 is ~1e-4 relative). */
  logits: 1e-3,
} as const;

/** max |a − b| over equal-length arrays (Infinity when lengths differ or a value is not finite). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

/**
 * Relative difference max|x − ref| / max|ref| (a scale-free bound that does
 * not blow up on entries near zero; with max|ref| = 0 it is the absolute one).
 */
export function relativeDiff(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i] as number));
  const abs = maxAbsDiff(x, ref);
  return scale === 0 ? abs : abs / scale;
}

/** The worst of several named values, with its name ('' for none). */
export function worst(entries: Iterable<[string, number]>): { name: string; value: number } {
  let best = { name: '', value: 0 };
  for (const [name, value] of entries) if (!(value <= best.value)) best = { name, value };
  return best;
}

/** A check from a measured value; NaN/Infinity never pass. */
export function check(name: string, value: number, tolerance: number, definition: string): ReplayCheck {
  return { name, value, tolerance, passed: Number.isFinite(value) && value <= tolerance, definition };
}

/** Per-step |ours − ref| of two loss curves (over the shorter length). */
export function lossDifferences(ours: readonly number[], ref: readonly number[]): number[] {
  return ours.map((v, i) => Math.abs(v - (ref[i] ?? Number.NaN)));
}

/** Index of the first step whose losses differ bitwise (fp32 values compared exactly), or -1. */
export function firstDifferentStep(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (Math.fround(a[i] as number) !== Math.fround(b[i] as number)) return i;
  return a.length === b.length ? -1 : n;
}
