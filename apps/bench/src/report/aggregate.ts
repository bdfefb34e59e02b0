import { isDenseMethod } from '@tsd-peft/tfjs';
import { meanCi, type MeanCi } from '../stats/summary.js';
import { benchMethods } from './methods.js';
import type { MethodName, ResultsFile, RunRecord, TaskInfo } from './schema.js';

/** A group's name in tables and charts: `method rN`, or just the method for a dense one (its rank means nothing). */
export function groupLabel(g: { method: string; r: number }): string {
  return isDenseMethod(g.method) ? g.method : `${g.method} r${g.r}`;
}

/** All seeds of one (task, method, r), summarised. */
export interface GroupSummary {
  task: string;
  method: MethodName;
  r: number;
  /** Finished runs (failed runs are counted in `failed` only). */
  runs: RunRecord[];
  seeds: number[];
  failed: number;
  /** Final primary metric over seeds, mean ± 95% CI. */
  final: MeanCi;
  /** Best primary metric over seeds, mean ± 95% CI. */
  best: MeanCi;
  trainableParams: number;
  /** Mean wall seconds per run. */
  wallTimeSec: number;
  tokensPerSec: number;
  peakRssMiB: number;
  /** Mean MFU and largest peak GPU memory (MiB) over runs on a GPU backend; null when none ran on one. */
  mfu: number | null;
  peakGpuMiB: number | null;
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The metric value of a record, NaN when missing or null. */
export function metricOf(values: Record<string, number | null>, key: string): number {
  const v = values[key];
  return typeof v === 'number' ? v : Number.NaN;
}

/**
 * Groups runs by (task, method, r) in a stable order (tasks as listed in the
 * file, methods in {@link benchMethods} order, r ascending) and summarises
 * the primary metric over seeds.
 */
export function summarize(results: ResultsFile): GroupSummary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const run of results.runs) {
    const k = `${run.config.task}\u0000${run.config.method}\u0000${run.config.r}`;
    const list = groups.get(k) ?? [];
    list.push(run);
    groups.set(k, list);
  }
  const taskOrder = results.tasks.map((t) => t.name);
  const out: GroupSummary[] = [];
  for (const runs of groups.values()) {
    const first = runs[0] as RunRecord;
    const done = runs.filter((r) => r.status === 'done').sort((a, b) => a.config.seed - b.config.seed);
    out.push({
      task: first.config.task,
      method: first.config.method,
      r: first.config.r,
      runs: done,
      seeds: done.map((r) => r.config.seed),
      failed: runs.length - done.length,
      final: meanCi(done.map((r) => metricOf(r.final, r.primary))),
      best: meanCi(done.map((r) => metricOf(r.best, r.primary))),
      trainableParams: done[0]?.trainableParams ?? first.trainableParams,
      wallTimeSec: mean(done.map((r) => r.wallTimeSec)),
      tokensPerSec: mean(done.map((r) => r.tokensPerSec)),
      peakRssMiB: Math.max(0, ...done.map((r) => r.peakRssMiB)),
      ...gpuSummary(done),
    });
  }
  const rank = (t: string): number => {
    const i = taskOrder.indexOf(t);
    return i === -1 ? taskOrder.length : i;
  };
  const methods = benchMethods();
  return out.sort((a, b) => rank(a.task) - rank(b.task) || a.task.localeCompare(b.task) || methods.indexOf(a.method) - methods.indexOf(b.method) || a.r - b.r);
}

function gpuSummary(runs: readonly RunRecord[]): Pick<GroupSummary, 'mfu' | 'peakGpuMiB'> {
  const gpu = runs.flatMap((r) => (r.gpu === undefined ? [] : [r.gpu]));
  if (gpu.length === 0) return { mfu: null, peakGpuMiB: null };
  return { mfu: mean(gpu.map((g) => g.mfu)), peakGpuMiB: Math.max(...gpu.map((g) => g.peakMemoryMiB)) };
}

/** The task's info from the file (or a stand-in naming the task when absent). */
export function taskInfo(results: ResultsFile, name: string): TaskInfo {
  return (
    results.tasks.find((t) => t.name === name) ?? {
      name,
      metric: { key: 'metric', label: 'metric', better: 'lower', description: '' },
      secondary: [],
      sources: [],
      evalSize: 0,
      baseline: {},
    }
  );
}

/** Formats a number with `digits` significant digits, without exponent for ordinary magnitudes. */
export function fmt(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1e6 || abs < 1e-4) return x.toExponential(digits - 1);
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return x.toFixed(decimals);
}

/** "mean ± half-width" (or just the mean for one seed). */
export function fmtCi(ci: MeanCi, digits = 4): string {
  if (ci.n === 0) return '—';
  return Number.isFinite(ci.halfWidth) ? `${fmt(ci.mean, digits)} ± ${fmt(ci.halfWidth, 2)}` : `${fmt(ci.mean, digits)} (1 seed)`;
}

/** Integer with thousands separators. */
export function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}
