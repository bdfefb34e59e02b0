import { ConfigError } from '@tsd-peft/core';
import { benchMethods, isKnownMethod } from './methods.js';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, runKey, type ResultsFile } from './schema.js';

type Json = unknown;

class Checker {
  constructor(readonly file: string | undefined) {}

  fail(path: string, what: string): never {
    throw new ConfigError(`results.json field ${path}: ${what}`, this.file === undefined ? {} : { file: this.file });
  }

  obj(v: Json, path: string): Record<string, Json> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'expected an object');
    return v as Record<string, Json>;
  }

  arr(v: Json, path: string): Json[] {
    if (!Array.isArray(v)) this.fail(path, 'expected an array');
    return v;
  }

  str(v: Json, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'expected a string');
    return v;
  }

  num(v: Json, path: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, 'expected a finite number');
    return v;
  }

  numOrNull(v: Json, path: string): void {
    if (v !== null) this.num(v, path);
  }

  metrics(v: Json, path: string): void {
    for (const [k, x] of Object.entries(this.obj(v, path))) this.numOrNull(x, `${path}.${k}`);
  }

  metricInfo(v: Json, path: string): void {
    const m = this.obj(v, path);
    this.str(m['key'], `${path}.key`);
    this.str(m['label'], `${path}.label`);
    if (m['better'] !== 'lower' && m['better'] !== 'higher') this.fail(`${path}.better`, 'expected "lower" or "higher"');
    this.str(m['description'], `${path}.description`);
  }
}

/**
 * Checks that `value` is a version-1 results file and returns it typed. Throws
 * {@link ConfigError} naming the first offending field (and `file`), so a
 * hand-edited or foreign file is rejected with a precise message.
 */
export function validateResults(value: Json, file?: string): ResultsFile {
  const c = new Checker(file);
  const root = c.obj(value, '$');
  if (root['schema'] !== RESULTS_SCHEMA) c.fail('schema', `expected "${RESULTS_SCHEMA}"`);
  if (root['schemaVersion'] !== RESULTS_SCHEMA_VERSION) c.fail('schemaVersion', `expected ${RESULTS_SCHEMA_VERSION}, got ${String(root['schemaVersion'])}`);
  c.str(root['createdAt'], 'createdAt');
  c.str(root['updatedAt'], 'updatedAt');
  c.str(root['preset'], 'preset');
  const model = c.obj(root['model'], 'model');
  c.str(model['id'], 'model.id');
  c.str(model['source'], 'model.source');
  c.num(model['parameters'], 'model.parameters');
  const env = c.obj(root['environment'], 'environment');
  for (const k of ['node', 'platform', 'backend', 'package']) c.str(env[k], `environment.${k}`);
  c.num(env['cpus'], 'environment.cpus');
  c.arr(root['tasks'], 'tasks').forEach((t, i) => {
    const task = c.obj(t, `tasks[${i}]`);
    c.str(task['name'], `tasks[${i}].name`);
    c.metricInfo(task['metric'], `tasks[${i}].metric`);
    c.arr(task['secondary'], `tasks[${i}].secondary`).forEach((m, j) => c.metricInfo(m, `tasks[${i}].secondary[${j}]`));
    c.arr(task['sources'], `tasks[${i}].sources`).forEach((s, j) => c.str(s, `tasks[${i}].sources[${j}]`));
    c.num(task['evalSize'], `tasks[${i}].evalSize`);
    c.metrics(task['baseline'], `tasks[${i}].baseline`);
    if (task['majorityClass'] !== undefined) {
      const maj = c.obj(task['majorityClass'], `tasks[${i}].majorityClass`);
      c.str(maj['label'], `tasks[${i}].majorityClass.label`);
      c.numOrNull(maj['accuracy'] ?? null, `tasks[${i}].majorityClass.accuracy`);
    }
  });
  const keys = new Set<string>();
  c.arr(root['runs'], 'runs').forEach((r, i) => {
    const p = `runs[${i}]`;
    const run = c.obj(r, p);
    const key = c.str(run['key'], `${p}.key`);
    if (keys.has(key)) c.fail(`${p}.key`, `duplicate run ${key}`);
    keys.add(key);
    if (run['status'] !== 'done' && run['status'] !== 'failed') c.fail(`${p}.status`, 'expected "done" or "failed"');
    if (run['error'] !== undefined) c.str(run['error'], `${p}.error`);
    const cfg = c.obj(run['config'], `${p}.config`);
    c.str(cfg['task'], `${p}.config.task`);
    if (!isKnownMethod(cfg['method'])) c.fail(`${p}.config.method`, `expected one of ${benchMethods().join(', ')}`);
    for (const k of ['r', 'alpha', 't', 's', 'seed', 'steps', 'lr', 'batchSize', 'seqLen', 'warmupSteps', 'evalEvery']) c.num(cfg[k], `${p}.config.${k}`);
    for (const k of ['optimizer', 'schedule', 'backend']) c.str(cfg[k], `${p}.config.${k}`);
    c.arr(cfg['targetModules'], `${p}.config.targetModules`).forEach((m, j) => c.str(m, `${p}.config.targetModules[${j}]`));
    const typed = cfg as unknown as Parameters<typeof runKey>[0];
    if (key !== runKey(typed)) c.fail(`${p}.key`, `expected ${runKey(typed)} from the config`);
    c.str(run['primary'], `${p}.primary`);
    c.metrics(run['final'], `${p}.final`);
    c.metrics(run['best'], `${p}.best`);
    c.num(run['bestStep'], `${p}.bestStep`);
    c.arr(run['evalCurve'], `${p}.evalCurve`).forEach((e, j) => {
      const point = c.obj(e, `${p}.evalCurve[${j}]`);
      c.num(point['step'], `${p}.evalCurve[${j}].step`);
      c.metrics(point['metrics'], `${p}.evalCurve[${j}].metrics`);
    });
    c.arr(run['lossCurve'], `${p}.lossCurve`).forEach((e, j) => {
      const point = c.obj(e, `${p}.lossCurve[${j}]`);
      c.num(point['step'], `${p}.lossCurve[${j}].step`);
      c.numOrNull(point['loss'], `${p}.lossCurve[${j}].loss`);
    });
    for (const k of ['trainableParams', 'wallTimeSec', 'trainTimeSec', 'evalTimeSec', 'tokensPerSec', 'peakRssMiB']) c.num(run[k], `${p}.${k}`);
    if (run['gpu'] !== undefined) {
      const gpu = c.obj(run['gpu'], `${p}.gpu`);
      for (const k of ['peakMemoryMiB', 'modelGflops', 'matmulPeakGflops', 'mfu']) c.num(gpu[k], `${p}.gpu.${k}`);
      if (typeof gpu['softwareAdapter'] !== 'boolean') c.fail(`${p}.gpu.softwareAdapter`, 'expected a boolean');
    }
    if (run['resumedFromStep'] !== undefined) c.num(run['resumedFromStep'], `${p}.resumedFromStep`);
    if (run['tsd'] !== undefined) {
      const tsd = c.obj(run['tsd'], `${p}.tsd`);
      c.num(tsd['selectedAtStep'], `${p}.tsd.selectedAtStep`);
      c.arr(tsd['modules'], `${p}.tsd.modules`).forEach((m, j) => {
        const q = `${p}.tsd.modules[${j}]`;
        const mod = c.obj(m, q);
        c.str(mod['module'], `${q}.module`);
        const idx = c.arr(mod['indices'], `${q}.indices`);
        const rates = c.arr(mod['changeRates'], `${q}.changeRates`);
        idx.forEach((x, k) => c.num(x, `${q}.indices[${k}]`));
        rates.forEach((x, k) => c.numOrNull(x, `${q}.changeRates[${k}]`));
        if (rates.length !== 0 && idx.length !== rates.length) c.fail(`${q}.changeRates`, `length ${rates.length} differs from indices (${idx.length})`);
        if (mod['spectrum'] !== undefined) c.arr(mod['spectrum'], `${q}.spectrum`).forEach((x, k) => c.numOrNull(x, `${q}.spectrum[${k}]`));
        if (mod['initIndices'] !== undefined) c.arr(mod['initIndices'], `${q}.initIndices`).forEach((x, k) => c.num(x, `${q}.initIndices[${k}]`));
      });
    }
  });
  return value as ResultsFile;
}
