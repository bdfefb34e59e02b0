import type { ResultsFile, RunRecord } from './schema.js';
import { tsdMethods } from './methods.js';
import type { MethodName } from './schema.js';

/** Overlap of two runs' selected directions: mean over shared modules of |I ∩ J| / max(|I|, |J|). */
export function runOverlap(a: RunRecord, b: RunRecord): number {
  const bMods = new Map((b.tsd?.modules ?? []).map((m) => [m.module, m.indices]));
  const values: number[] = [];
  for (const m of a.tsd?.modules ?? []) {
    const other = bMods.get(m.module);
    if (other === undefined) continue;
    const size = Math.max(m.indices.length, other.length);
    if (size === 0) continue;
    const set = new Set(other);
    values.push(m.indices.filter((i) => set.has(i)).length / size);
  }
  return values.length === 0 ? Number.NaN : values.reduce((x, y) => x + y, 0) / values.length;
}

/** A task × task overlap matrix for one TSD method and rank. */
export interface OverlapMatrix {
  method: MethodName;
  r: number;
  tasks: string[];
  /** values[i][j]: mean overlap over pairs of distinct runs (task i, task j); the diagonal is seed-to-seed stability. */
  values: number[][];
}

/**
 * How much the task-specific directions of different tasks coincide (Si et
 * al. argue TSDs are task-specific, so off-diagonal overlap should be low
 * while the diagonal — the same task under different seeds — stays high).
 * Uses the TSD method and rank with selections on the most tasks; null when
 * no run recorded a selection.
 */
export function tsdOverlapAcrossTasks(results: ResultsFile): OverlapMatrix | null {
  const withTsd = results.runs.filter((r) => r.status === 'done' && r.tsd !== undefined && r.tsd.modules.length > 0);
  let best: { method: MethodName; r: number; tasks: string[] } | null = null;
  for (const method of tsdMethods()) {
    for (const r of [...new Set(withTsd.filter((x) => x.config.method === method).map((x) => x.config.r))].sort((a, b) => a - b)) {
      const tasks = results.tasks.map((t) => t.name).filter((t) => withTsd.some((x) => x.config.method === method && x.config.r === r && x.config.task === t));
      if (best === null || tasks.length > best.tasks.length) best = { method, r, tasks };
    }
  }
  if (best === null) return null;
  const { method, r, tasks } = best;
  const runsOf = (task: string): RunRecord[] => withTsd.filter((x) => x.config.method === method && x.config.r === r && x.config.task === task);
  const values = tasks.map((ta) =>
    tasks.map((tb) => {
      const pairs: number[] = [];
      for (const a of runsOf(ta)) for (const b of runsOf(tb)) if (a.key !== b.key) pairs.push(runOverlap(a, b));
      const finite = pairs.filter((v) => Number.isFinite(v));
      return finite.length === 0 ? Number.NaN : finite.reduce((x, y) => x + y, 0) / finite.length;
    }),
  );
  return { method, r, tasks, values };
}
