import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, type BenchOptions } from './args.js';
import { ProgressDisplay } from './progress.js';
import { loadResults } from './report/results-store.js';
import { validateResults } from './report/validate.js';
import { planRuns, runBench } from './runner.js';
import { fakeBackend, type FakeBackendOptions } from './testing/fake-backend.js';

const quiet = () => new ProgressDisplay({ write: () => true });

function options(out: string, extra: string[] = []): BenchOptions {
  const parsed = parseBenchArgs([
    '--out',
    out,
    '--tasks',
    'reversal',
    '--methods',
    'lora,lora-dash,full',
    '--seeds',
    '0,1',
    '--steps',
    '6',
    '--t',
    '2',
    '--eval-every',
    '3',
    '--train-examples',
    '40',
    '--eval-examples',
    '8',
    '--batch-size',
    '4',
    ...extra,
  ]);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.options;
}

async function bench(o: BenchOptions, fake: ReturnType<typeof fakeBackend>, signal?: AbortSignal) {
  return runBench({ options: o, openBackend: async () => fake, progress: quiet(), ...(signal === undefined ? {} : { signal }) });
}

describe('planRuns', () => {
  it('runs every (seed, task, method, r), seed-major; full fine-tuning once per seed with r = 0', () => {
    const o = options('x', ['--r', '4,8']);
    const keys = planRuns(o, 'cpu').map((c) => `${c.seed}:${c.method}:${c.r}:${c.alpha}`);
    expect(keys).toEqual(['0:lora:4:8', '0:lora:8:16', '0:lora-dash:4:8', '0:lora-dash:8:16', '0:full:0:0', '1:lora:4:8', '1:lora:8:16', '1:lora-dash:4:8', '1:lora-dash:8:16', '1:full:0:0']);
  });
});

describe('runBench', () => {
  it('runs the plan and writes valid results.json, results.md and report.html', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    const fake = fakeBackend();
    const summary = await bench(options(out), fake);
    expect(summary).toMatchObject({ planned: 6, skipped: 0, completed: 6, failed: 0, interrupted: false });
    const results = validateResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.runs.map((r) => r.key)).toEqual(fake.trained);
    for (const run of results.runs) {
      expect(run.status).toBe('done');
      expect(Number.isFinite(run.final['exact_match'])).toBe(true);
      expect(run.lossCurve).toHaveLength(6);
      expect(run.evalCurve.map((p) => p.step)).toEqual([3, 6]);
    }
    expect(results.runs.find((r) => r.config.method === 'lora-dash')?.tsd?.modules[0]?.indices).toEqual([3, 1]);
    expect(results.runs.find((r) => r.config.method === 'lora')?.tsd).toBeUndefined();
    expect(results.tasks[0]?.baseline['exact_match']).toBe(0);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('## reversal: exact match (higher is better)');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
    expect(readdirSync(join(out, 'checkpoints'))).toEqual([]); // finished runs leave no checkpoint behind
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('skips recorded runs when re-run with the same --out', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    await bench(options(out), fakeBackend());
    const before = readFileSync(join(out, 'results.json'), 'utf8');
    const again = fakeBackend();
    const summary = await bench(options(out), again);
    expect(summary).toMatchObject({ planned: 6, skipped: 6, completed: 0 });
    expect(again.trained).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).runs).toEqual(JSON.parse(before).runs);
  });

  it('resumes an interrupted run from its checkpoint and ends with the same results as an uninterrupted bench', async () => {
    const reference = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    await bench(options(reference), fakeBackend());
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    const controller = new AbortController();
    const stopAt: FakeBackendOptions = { afterStep: (c, step) => c.method === 'lora-dash' && c.seed === 0 && step === 4 && controller.abort() };
    const first = await bench(options(out), fakeBackend(stopAt), controller.signal);
    expect(first).toMatchObject({ completed: 1, interrupted: true });
    expect(loadResults(out)?.runs.map((r) => r.key)).toEqual(['reversal/lora/r8/seed0']);

    const lines: string[] = [];
    const resumed = fakeBackend();
    const summary = await runBench({ options: options(out), openBackend: async () => resumed, progress: new ProgressDisplay({ write: (s: string) => lines.push(s) }) });
    expect(summary).toMatchObject({ skipped: 1, completed: 5 });
    expect(lines.join('')).toContain('resuming reversal/lora-dash/r8/seed0 from its checkpoint at step 4');
    const a = loadResults(reference)?.runs ?? [];
    const b = loadResults(out)?.runs ?? [];
    const strip = (runs: typeof a) => runs.map(({ wallTimeSec: _w, peakRssMiB: _p, resumedFromStep: _r, ...rest }) => rest);
    expect(strip(b)).toEqual(strip(a));
    expect(b.find((r) => r.key === 'reversal/lora-dash/r8/seed0')?.resumedFromStep).toBe(4);
  });

  it('refuses to mix runs made with other settings into the same --out', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    await bench(options(out), fakeBackend());
    await expect(bench(options(out, ['--lr', '0.01']), fakeBackend())).rejects.toThrow(/already has reversal\/lora\/r8\/seed0 with other settings/);
  });

  it('records a diverged run as failed and carries on', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    const summary = await bench(options(out), fakeBackend({ diverges: (c) => c.method === 'full' && c.seed === 1 }));
    expect(summary).toMatchObject({ completed: 5, failed: 1 });
    const failed = loadResults(out)?.runs.filter((r) => r.status === 'failed');
    expect(failed?.map((r) => [r.key, r.error])).toEqual([['reversal/full/r0/seed1', 'NonFiniteError: loss is NaN in step 2; the run stopped before updating (tensor loss)']]);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('| full | — | 1 (+1 failed) |');
  });

  it('rejects a corrupt results.json instead of overwriting it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-bench-'));
    writeFileSync(join(out, 'results.json'), '{"schema": "tsd-bench/results", "runs": [');
    await expect(bench(options(out), fakeBackend())).rejects.toThrow(ConfigError);
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe('{"schema": "tsd-bench/results", "runs": [');
  });
});
