import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ConfigError, NonFiniteError } from '@tsd-peft/core';
import { isDenseMethod } from '@tsd-peft/tfjs';
import type { BenchOptions } from './args.js';
import type { BenchBackend, TrainOutcome } from './bench-backend.js';
import { benchAlpha } from './presets.js';
import type { ProgressDisplay } from './progress.js';
import { fmt } from './report/aggregate.js';
import { tsdMethods } from './report/methods.js';
import { detectableDifferenceLines } from './report/detectable.js';
import { loadResults, saveResults } from './report/results-store.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, jsonNumber, runKey, type EvalPoint, type ResultsFile, type RunConfig, type RunRecord, type TaskInfo } from './report/schema.js';
import { makeDatasetResolver } from './tasks/datasets.js';
import { TASKS } from './tasks/registry.js';
import type { DatasetResolver, LoadedTask } from './tasks/types.js';

/** The optimizer every run uses (recorded in each run's config): PyTorch's Adam defaults, as the reference trajectory. */
export const OPTIMIZER = 'adam (betas 0.9/0.999, eps 1e-8, no weight decay)';
/** The LR schedule every run uses: constant, as the reference trajectory. */
export const SCHEDULE = 'constant';

/** Inputs of {@link runBench}. */
export interface RunBenchInputs {
  options: BenchOptions;
  /** Loads the model and returns the training backend (the real one or a test stand-in). */
  openBackend: (options: BenchOptions, log: (line: string) => void) => Promise<BenchBackend>;
  progress: ProgressDisplay;
  /** Stops after the current step (a checkpoint is written); the next run with the same --out resumes. */
  signal?: AbortSignal;
  resolveDataset?: DatasetResolver;
}

/** What a bench invocation did. */
export interface BenchSummary {
  outDir: string;
  planned: number;
  skipped: number;
  completed: number;
  failed: number;
  interrupted: boolean;
  results: ResultsFile;
}

/**
 * Every run of the plan, seed-major (all methods of seed 0 first, so a partial
 * bench already compares methods), then task, then (method, r).
 */
export function planRuns(o: BenchOptions, backendName: string): RunConfig[] {
  const runs: RunConfig[] = [];
  for (const seed of o.seeds) {
    for (const task of o.tasks) {
      for (const { method, r } of o.pairs) {
        runs.push({
          task,
          method,
          r,
          alpha: isDenseMethod(method) ? 0 : (o.alpha ?? benchAlpha(r)),
          t: o.t,
          s: o.s,
          seed,
          steps: o.steps,
          lr: o.lr,
          batchSize: o.batchSize,
          seqLen: o.sizes.seqLen,
          targetModules: o.targetModules,
          optimizer: OPTIMIZER,
          schedule: SCHEDULE,
          warmupSteps: 0,
          evalEvery: o.evalEvery,
          backend: backendName,
        });
      }
    }
  }
  return runs;
}

/** Sanitised folder name of a run's checkpoints. */
export function checkpointDirFor(outDir: string, key: string): string {
  return join(outDir, 'checkpoints', key.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    return `${pkg.name}@${pkg.version}`;
  } catch {
    return '@tsd-peft/bench';
  }
}

function sameConfig(a: RunConfig, b: RunConfig): boolean {
  const { backend: _a, ...ra } = a;
  const { backend: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

function better(a: number | null | undefined, b: number | null | undefined, dir: 'lower' | 'higher'): boolean {
  if (typeof a !== 'number') return false;
  if (typeof b !== 'number') return true;
  return dir === 'lower' ? a < b : a > b;
}

/** The record of a finished run (final = last evaluation; best = best primary metric over evaluations). */
export function recordRun(config: RunConfig, task: LoadedTask, outcome: TrainOutcome, wallTimeSec: number, peakRssMiB: number): RunRecord {
  const curve: EvalPoint[] = outcome.evalHistory;
  const last = curve[curve.length - 1];
  let best = last;
  for (const point of curve) if (better(point.metrics[task.metric.key], best?.metrics[task.metric.key], task.metric.better)) best = point;
  const record: RunRecord = {
    key: runKey(config),
    status: 'done',
    config,
    primary: task.metric.key,
    final: last?.metrics ?? {},
    best: best?.metrics ?? {},
    bestStep: best?.step ?? 0,
    evalCurve: curve,
    lossCurve: outcome.lossHistory.map((loss, i) => ({ step: i + 1, loss: jsonNumber(loss) })),
    trainableParams: outcome.trainableParams,
    wallTimeSec,
    trainTimeSec: outcome.trainTimeSec,
    evalTimeSec: outcome.evalTimeSec,
    tokensPerSec: outcome.trainTimeSec > 0 ? outcome.tokens / outcome.trainTimeSec : 0,
    peakRssMiB,
  };
  if (outcome.resumedFromStep !== null) record.resumedFromStep = outcome.resumedFromStep;
  if (outcome.tsd !== undefined && tsdMethods().includes(config.method)) record.tsd = outcome.tsd;
  if (outcome.gpu !== undefined) record.gpu = outcome.gpu;
  return record;
}

function failedRun(config: RunConfig, task: LoadedTask, error: Error): RunRecord {
  return {
    key: runKey(config),
    status: 'failed',
    error: `${error.name}: ${error.message}`.split('\n')[0] as string,
    config,
    primary: task.metric.key,
    final: {},
    best: {},
    bestStep: 0,
    evalCurve: [],
    lossCurve: [],
    trainableParams: 0,
    wallTimeSec: 0,
    trainTimeSec: 0,
    evalTimeSec: 0,
    tokensPerSec: 0,
    peakRssMiB: 0,
  };
}

function taskInfo(task: LoadedTask, baseline: Record<string, number>): TaskInfo {
  return {
    name: task.name,
    metric: { ...task.metric },
    secondary: task.secondary.map((m) => ({ ...m })),
    sources: [...task.sources],
    evalSize: task.evalSize,
    baseline: Object.fromEntries(Object.entries(baseline).map(([k, v]) => [k, jsonNumber(v)])),
    ...(task.majorityClass === undefined ? {} : { majorityClass: { label: task.majorityClass.label, accuracy: jsonNumber(task.majorityClass.accuracy) } }),
  };
}

const rssMiB = (): number => process.memoryUsage.rss() / 2 ** 20;

/**
 * Runs the bench: loads (or starts) `<out>/results.json`, loads the model and
 * tasks, evaluates the base model once per task, then runs every planned
 * (task, method, r, seed) not yet recorded — resuming an interrupted one from
 * its checkpoint — and rewrites results.json, results.md and report.html
 * atomically after each run. A run that diverges (NonFiniteError) is recorded
 * as failed and the bench goes on; any other error stops the bench with its
 * checkpoint in place.
 */
export async function runBench(inputs: RunBenchInputs): Promise<BenchSummary> {
  const { options: o, progress } = inputs;
  const outDir = o.out;
  mkdirSync(outDir, { recursive: true });
  const existing = loadResults(outDir);
  const backend = await inputs.openBackend(o, (line) => progress.log(line));
  try {
    if (existing !== null && existing.model.id !== backend.model.id) {
      throw new ConfigError(`${outDir} holds results for model ${existing.model.id}, not ${backend.model.id}; use another --out`, { file: join(outDir, 'results.json') });
    }
    const now = new Date().toISOString();
    const results: ResultsFile = existing ?? {
      schema: RESULTS_SCHEMA,
      schemaVersion: RESULTS_SCHEMA_VERSION,
      createdAt: now,
      updatedAt: now,
      preset: o.preset,
      model: backend.model,
      tasks: [],
      environment: { node: process.versions.node, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, backend: backend.backendName, package: packageVersion() },
      runs: [],
    };
    const plan = planRuns(o, backend.backendName);
    const done = new Map(results.runs.map((r) => [r.key, r]));
    for (const config of plan) {
      const prior = done.get(runKey(config));
      if (prior !== undefined && !sameConfig(prior.config, config)) {
        throw new ConfigError(`results.json already has ${prior.key} with other settings (${JSON.stringify(prior.config)}); rerun with the same flags or use another --out`, {
          file: join(outDir, 'results.json'),
        });
      }
    }
    const todo = plan.filter((c) => !done.has(runKey(c)));
    progress.plan(plan.length, plan.length - todo.length);
    for (const line of detectableDifferenceLines(o.tasks, o.pairs, o.seeds.length)) progress.log(line);
    if (todo.length < plan.length) progress.log(`resuming ${outDir}: ${plan.length - todo.length} of ${plan.length} runs already recorded`);

    const resolveDataset = inputs.resolveDataset ?? makeDatasetResolver();
    const loaded = new Map<string, LoadedTask>();
    for (const name of o.tasks) {
      const task = await TASKS[name].load({ tokenizer: backend.tokenizer, sizes: o.sizes, resolveDataset, ...(o.custom === undefined ? {} : { custom: o.custom }) });
      loaded.set(name, task);
      if (!results.tasks.some((t) => t.name === name)) {
        progress.log(`${name}: evaluating the base model (${task.metric.label})`);
        results.tasks.push(taskInfo(task, await task.evaluate(backend.base)));
      }
    }
    saveResults(outDir, results);

    let completed = 0;
    let failed = 0;
    let interrupted = false;
    for (const config of todo) {
      if (inputs.signal?.aborted === true) {
        interrupted = true;
        break;
      }
      const task = loaded.get(config.task) as LoadedTask;
      const key = runKey(config);
      const checkpointDir = checkpointDirFor(outDir, key);
      const started = performance.now();
      let peak = rssMiB();
      progress.startRun(key, config.steps);
      let record: RunRecord;
      try {
        const outcome = await backend.train({
          config,
          task,
          checkpointDir,
          onStep: (step, loss) => {
            peak = Math.max(peak, rssMiB());
            progress.step(step, loss);
          },
          onResume: (step) => progress.resumeAt(step),
          onPhase: (name) => progress.phase(name),
          ...(inputs.signal === undefined ? {} : { signal: inputs.signal }),
        });
        if (outcome.aborted) {
          interrupted = true;
          progress.log(`interrupted at a checkpoint of ${key}; run again with --out ${outDir} to resume`);
          break;
        }
        record = recordRun(config, task, outcome, (performance.now() - started) / 1000, Math.max(peak, rssMiB()));
        completed += 1;
        progress.endRun(`${task.metric.label} ${fmt(record.final[task.metric.key] ?? Number.NaN)} (best ${fmt(record.best[task.metric.key] ?? Number.NaN)} at step ${record.bestStep})`);
      } catch (error) {
        if (!(error instanceof NonFiniteError)) throw error;
        record = failedRun(config, task, error);
        failed += 1;
        progress.endRun(`FAILED: ${record.error ?? ''}`);
      }
      results.runs.push(record);
      results.updatedAt = new Date().toISOString();
      saveResults(outDir, results);
      rmSync(checkpointDir, { recursive: true, force: true });
    }
    progress.finish();
    return { outDir, planned: plan.length, skipped: plan.length - todo.length, completed, failed, interrupted, results };
  } finally {
    backend.dispose();
  }
}
