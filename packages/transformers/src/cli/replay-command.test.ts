import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { runCli } from './cli-test-io.test-helper.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-replay-'));
beforeAll(useWasmBackend);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('tsd-peft replay', () => {
  it('exits 0 on the reference trajectory and prints losses, launch indices and differences', async () => {
    const run = await runCli(['replay', fixturePath('reference', 'lora-dash-trajectory')]);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(/^ {3}20 {3}3\.6480\d+ +3\.64809513 .*<- launch$/m); // step 20 (d = 0 still), both runs equal
    expect(run.out).toMatch(/model\.layers\.0\.self_attn\.q_proj +63 59 55 58/); // launch.json's top_index
    expect(run.out).toMatch(/pass {2}loss\.lora_dash/);
    expect(run.out).toMatch(/pass {2}logits\.lora_dash\.input2/);
    expect(run.out).toMatch(/all checks passed$/);
    expect(run.err).toMatch(/lora-dash {2}step 40\/40/);
  });

  it('exits 1 when the reference losses disagree, naming the failed check', async () => {
    // A copy of the fixture (outside the repo) whose LoRA-Dash loss at step 30 is off by 1e-3.
    const parent = join(tmp, 'reference');
    const dir = join(parent, 'lora-dash-trajectory');
    mkdirSync(parent, { recursive: true });
    cpSync(fixturePath('reference', 'lora-dash-trajectory'), dir, { recursive: true });
    cpSync(fixturePath('reference', 'inputs.json'), join(parent, 'inputs.json'));
    chmodSync(dir, 0o755); // fixtures are read-only; the copy must be writable (and removable)
    const lossesFile = join(dir, 'losses.json');
    const losses = JSON.parse(readFileSync(lossesFile, 'utf8')) as { lora_dash: number[] };
    losses.lora_dash[30] = (losses.lora_dash[30] as number) + 1e-3;
    rmSync(lossesFile, { force: true });
    writeFileSync(lossesFile, JSON.stringify(losses));
    const run = await runCli(['replay', dir, '--base', fixturePath('reference', 'hf', 'stories260K'), '--json']);
    expect(run.status, run.err).toBe(1);
    const report = JSON.parse(run.out) as { passed: boolean; checks: { name: string; passed: boolean; value: number }[] };
    expect(report.passed).toBe(false);
    expect(report.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['loss.lora_dash']);
    expect(report.checks.find((c) => c.name === 'loss.lora_dash')?.value).toBeGreaterThan(9e-4);
  });

  it('rejects a missing or incomplete folder with status 2', async () => {
    const missing = await runCli(['replay', join(tmp, 'nope')]);
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/config\.json/);
    const partial = join(tmp, 'partial');
    mkdirSync(partial);
    cpSync(fixturePath('reference', 'lora-dash-trajectory', 'config.json'), join(partial, 'config.json'));
    const incomplete = await runCli(['replay', partial]);
    expect(incomplete.status).toBe(2);
    expect(incomplete.err).toMatch(/batches\.json/);
    const none = await runCli(['replay']);
    expect(none.status).toBe(2);
    expect(none.err).toMatch(/missing the trajectory folder/);
  });
});
