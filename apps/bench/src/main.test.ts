import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireFolderLock } from '@tsd-peft/core/node';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from './args.js';
import { main, type CliIO } from './main.js';
import { fakeBackend } from './testing/fake-backend.js';

function io(): CliIO & { out: string[]; err: string[]; opened: number } {
  const out: string[] = [];
  const err: string[] = [];
  const state = {
    out,
    err,
    opened: 0,
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    openBackend: async () => {
      state.opened += 1;
      return fakeBackend();
    },
  };
  return state;
}

const dir = mkdtempSync(join(tmpdir(), 'tsd-cli-'));

describe('tsd-bench CLI', () => {
  it('--help prints usage with examples and exits 0', async () => {
    const cli = io();
    expect(await main(['--help'], cli)).toBe(0);
    const text = cli.out.join('');
    expect(text).toContain('Usage: tsd-bench [options]');
    expect(text).toContain('Examples:');
    expect(text).toContain('--preset efficiency');
    expect(cli.opened).toBe(0);
  });

  it.each([
    [['--methods', 'lora,qlora'], 'tsd-bench: error: unknown method "qlora" (expected one of: full, lora, rslora, pissa, milora, dora, lora-dash, lora-init, lora-tsd)'],
    [['--tasks', 'mmlu'], 'tsd-bench: error: unknown task "mmlu" (expected one of: shakespeare, tinystories-retention, sst2, addition, reversal, custom)'],
    [['--model', '/nonexistent/stories.bin'], 'tsd-bench: error: model not found: /nonexistent/stories.bin (pass a folder, a llama2.c .bin or a hub id)'],
    [['--preset', 'huge'], 'tsd-bench: error: unknown preset "huge" (expected one of: quick, full, efficiency, claims)'],
    [['--steps', '0'], 'tsd-bench: error: --steps must be an integer ≥ 1, got "0"'],
    [['--frobnicate'], 'tsd-bench: error: unknown option --frobnicate (see tsd-bench --help)'],
    [['shakespeare'], 'tsd-bench: error: unexpected argument "shakespeare" (tsd-bench takes only --options; see --help)'],
    [['--steps'], 'tsd-bench: error: --steps needs a value'],
    [['--tasks', 'custom'], 'tsd-bench: error: task "custom" needs --data train.jsonl --eval eval.jsonl'],
  ])('bad arguments %j: one clear line on stderr, exit 2, no model loaded', async (argv, line) => {
    const cli = io();
    expect(await main([...argv, '--out', join(dir, 'never')], cli)).toBe(2);
    expect(cli.err).toEqual([`${line}\n`]);
    expect(cli.opened).toBe(0);
  });

  it('an empty data file: one line naming it, exit 2', async () => {
    const empty = join(dir, 'empty.jsonl');
    const ok = join(dir, 'ok.jsonl');
    writeFileSync(empty, '');
    writeFileSync(ok, '{"text": "hello"}\n');
    const cli = io();
    expect(await main(['--data', empty, '--eval', ok], cli)).toBe(2);
    expect(cli.err).toEqual([`tsd-bench: error: no training examples (the file is empty) (file ${empty})\n`]);
  });

  it('--verbose adds the stack trace', async () => {
    const cli = io();
    expect(await main(['--methods', 'nope', '--verbose'], cli)).toBe(2);
    expect(cli.err).toHaveLength(2);
    expect(cli.err[1]).toContain('at parseBenchArgs');
  });

  it('runs a bench end to end and reports where the results are', async () => {
    const cli = io();
    const out = join(dir, 'run');
    const status = await main(['--tasks', 'addition', '--methods', 'lora', '--seeds', '0', '--steps', '2', '--t', '1', '--eval-examples', '4', '--train-examples', '10', '--out', out], cli);
    expect(status).toBe(0);
    expect(cli.out.at(-1)).toBe(`1 run(s) done, 0 failed, 0 already recorded; results in ${out}/{results.json,results.md,report.html}\n`);
  });
});

describe('parseBenchArgs', () => {
  it('defaults to the quick preset: every method, 2 seeds, a real-data task', () => {
    const parsed = parseBenchArgs([]);
    if (parsed.help) throw new Error('help');
    const o = parsed.options;
    expect(o.preset).toBe('quick');
    expect(new Set(o.pairs.map((p) => p.method))).toEqual(new Set(['full', 'lora', 'rslora', 'pissa', 'milora', 'dora', 'lora-dash', 'lora-init', 'lora-tsd']));
    expect(o.seeds.length).toBeGreaterThanOrEqual(2);
    expect(o.tasks).toContain('shakespeare');
    expect(o.out).toMatch(/^bench-results\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}$/);
  });

  it('efficiency puts LoRA-Dash at r/8 against LoRA at r', () => {
    const parsed = parseBenchArgs(['--preset', 'efficiency']);
    if (parsed.help) throw new Error('help');
    expect(parsed.options.pairs).toEqual([
      { method: 'lora', r: 16 },
      { method: 'lora-dash', r: 2 },
      { method: 'lora', r: 2 },
    ]);
  });

  it('full has ≥ 3 seeds and every built-in task; --data alone selects the custom task', () => {
    const full = parseBenchArgs(['--preset', 'full']);
    if (full.help) throw new Error('help');
    expect(full.options.seeds.length).toBeGreaterThanOrEqual(3);
    expect(full.options.tasks).toEqual(['shakespeare', 'tinystories-retention', 'sst2', 'addition', 'reversal']);
    const data = join(dir, 'd.jsonl');
    writeFileSync(data, '{"prompt": "a", "completion": " b"}\n');
    const custom = parseBenchArgs(['--data', data, '--eval', data]);
    if (custom.help) throw new Error('help');
    expect(custom.options.tasks).toEqual(['custom']);
  });

  it('keeps the launch step inside training', () => {
    expect(() => parseBenchArgs(['--steps', '10', '--t', '10'])).toThrow('--t (10) must be below --steps (10)');
    const short = parseBenchArgs(['--steps', '5']);
    if (short.help) throw new Error('help');
    expect(short.options.t).toBe(4);
  });

  it('--version prints the package version', async () => {
    const cli = io();
    expect(await main(['--version'], cli)).toBe(0);
    expect(cli.out.join('')).toMatch(/^tsd-bench \d+\.\d+\.\d+\n$/);
  });

  it('refuses an --out folder that another live run holds, before loading anything', async () => {
    const out = join(dir, 'held');
    const lock = acquireFolderLock(out, 'tsd-bench');
    try {
      const cli = io();
      expect(await main(['--out', out], cli)).toBe(2);
      expect(cli.err.join('')).toMatch(/^tsd-bench: error: .*held is in use by tsd-bench \(pid \d+/);
      expect(cli.opened).toBe(0);
    } finally {
      lock.release();
    }
  });
});
