/**
 * A real crash: a child `node` process trains with checkpoints, the test
 * SIGKILLs it mid-run, a second child resumes from the folder, and the result
 * must equal an uninterrupted child's bit for bit (same 'cpu' backend).
 *
 * Children cannot use vitest's `@tsd-peft/*` aliases and dist/ may be stale, so
 * the test bundles `test-fixtures/train-child.ts` from the sources with esbuild
 * (already installed as tsup's and vite's bundler) into a temp folder first;
 * unlike the worker bundles (tooling/scripts/bundle-sources.mjs) it bundles
 * tfjs-core in, as one ESM copy, and only shares their source resolution.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsdPeftSources } from '../../../../tooling/scripts/bundle-sources.mjs';
import { decodeCheckpoint } from './checkpoint.js';
import { directoryCheckpointStore } from './directory-store.js';
import type { ChildArgs, ChildOutput } from './test-fixtures/train-child.js';
import type { EvalRecord } from './progress.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

let work = '';
let childScript = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tsd-sigkill-'));
  childScript = join(work, 'train-child.mjs');
  await build({
    entryPoints: [here('./test-fixtures/train-child.ts')],
    outfile: childScript,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'], // one ESM copy of tfjs-core, so its gradient registrations apply
    banner: { js: "import { createRequire as __tsdRequire } from 'node:module'; const require = __tsdRequire(import.meta.url);" },
    logLevel: 'error',
    plugins: [tsdPeftSources],
  });
});

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

interface Child {
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: () => void;
  stderr: () => string;
}

function startChild(args: ChildArgs): Child {
  const child = spawn(process.execPath, [childScript, JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    kill: () => child.kill('SIGKILL'),
    stderr: () => stderr,
  };
}

async function runToEnd(args: ChildArgs): Promise<ChildOutput> {
  const child = startChild(args);
  const { code } = await child.exit;
  expect(code, child.stderr()).toBe(0);
  return JSON.parse(readFileSync(args.outFile, 'utf8')) as ChildOutput;
}

const base = { steps: 48, growAt: 9, checkpointEvery: 4 };

describe('resume after SIGKILL (child processes)', () => {
  it('a killed and resumed run ends with the same losses, weights and optimizer state as an uninterrupted one', async () => {
    const straightDir = join(work, 'straight');
    const crashDir = join(work, 'crash');
    const straightRun = runToEnd({ ...base, checkpointDir: straightDir, resume: false, delayMs: 0, outFile: join(work, 'straight.json') });

    // Paced at ~10 ms a step so the kill lands mid-run; kill once a checkpoint past the growth exists.
    const crashOut = join(work, 'crash.json');
    const victim = startChild({ ...base, checkpointDir: crashDir, resume: false, delayMs: 10, outFile: crashOut });
    const store = directoryCheckpointStore(crashDir);
    const deadline = Date.now() + 60_000;
    let exited = false;
    void victim.exit.then(() => {
      exited = true;
    });
    while (!exited && Date.now() < deadline && !((await store.steps()).at(-1)! >= 16)) {
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    victim.kill();
    const { signal } = await victim.exit;
    expect(signal, victim.stderr()).toBe('SIGKILL');
    expect(existsSync(crashOut)).toBe(false); // it never finished
    const killedAt = (await store.steps()).at(-1) as number;
    expect(killedAt).toBeGreaterThanOrEqual(16);
    expect(killedAt).toBeLessThan(base.steps);

    const resumed = await runToEnd({ ...base, checkpointDir: crashDir, resume: true, delayMs: 0, outFile: crashOut });
    const straight = await straightRun;
    expect(resumed.resumedFromStep).toBe(killedAt);
    expect(straight.completedSteps).toBe(base.steps);
    expect(resumed.completedSteps).toBe(base.steps);
    // Bit for bit: JSON numbers round-trip float32 values and float64 losses exactly.
    expect(resumed.lossHistory).toEqual(straight.lossHistory);
    // the evaluations' timings differ between the runs; their steps and results must not
    const untimed = (h: readonly EvalRecord[]) => h.map(({ step, result }) => ({ step, result }));
    expect(untimed(resumed.evalHistory)).toEqual(untimed(straight.evalHistory));
    expect(Object.keys(resumed.weights).sort()).toEqual(['dash.d', 'fc1.bias', 'fc1.weight', 'fc2.weight']);
    expect(resumed.weights).toEqual(straight.weights);

    // The final checkpoints agree on everything but wall-clock time, Adam state of the late `d` included.
    const final = async (dir: string) => {
      const latest = await directoryCheckpointStore(dir).latest();
      return decodeCheckpoint(latest?.bytes as Uint8Array, latest?.location);
    };
    const a = await final(straightDir);
    const b = await final(crashDir);
    expect(b.optimizer).toEqual(a.optimizer);
    expect(b.optimizer.variables['dash.d']?.step).toBe(base.steps - base.growAt);
    expect(b.model).toEqual(a.model);
    expect(b.rng).toEqual(a.rng);
    expect(b.cursor).toEqual(a.cursor);
  });
});
