import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-test-io.test-helper.js';

describe('tsd-peft CLI', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-cli-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('answers --help for itself and every command, with examples', async () => {
    const top = await runCli(['--help']);
    expect(top.status).toBe(0);
    expect(top.out).toMatch(/Usage: tsd-peft/);
    const names = [...top.out.matchAll(/^ {2}(\w[\w-]*) {2,}/gm)].map((m) => m[1] as string);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const help = await runCli([name, '--help']);
      expect(help.status, name).toBe(0);
      expect(help.out, name).toMatch(/Usage: tsd-peft/);
      expect(help.out, name).toMatch(/Example/);
    }
  });

  it('gives one clear line and status 2 for bad arguments', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    const missing = await runCli(['export', '--base', 'a', '--out', 'b']);
    expect(missing.status).toBe(2);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toMatch(/missing --adapter/);
    const badFlag = await runCli(['export', '--frobnicate']);
    expect(badFlag.status).toBe(2);
    expect(badFlag.err).toMatch(/frobnicate/);
    const badNumber = await runCli(['export', '--base', 'a', '--adapter', 'c', '--out', 'b', '--scaling', 'x']);
    expect(badNumber.status).toBe(2);
    expect(badNumber.err).toMatch(/--scaling must be a number/);
    // The command is named once, by main, however deep the error came from.
    for (const run of [missing, badFlag, badNumber]) expect(run.err).toMatch(/^tsd-peft export: (?!export:)/);
  });

  it('prints its version', async () => {
    const run = await runCli(['--version']);
    expect(run.status).toBe(0);
    expect(run.out).toMatch(/^tsd-peft \d+\.\d+\.\d+/);
  });

  it('export merges a PEFT adapter into the ONNX folder', async () => {
    const out = join(tmp, 'merged');
    const result = await runCli(['export', '--base', fixturePath('reference', 'onnx', 'stories260K'), '--adapter', fixturePath('reference', 'peft-rslora'), '--out', out]);
    expect(result.err).toBe('');
    expect(result.status).toBe(0);
    expect(result.out).toMatch(/^onnx\/model\.onnx: merged 35 modules/);
    expect(result.out).toContain(`wrote ${out}`);
    const missingBase = await runCli(['export', '--base', join(tmp, 'nope'), '--adapter', fixturePath('reference', 'peft-lora'), '--out', join(tmp, 'x')]);
    expect(missingBase.status).toBe(2);
    expect(missingBase.err).toMatch(/nope/);
  });
});
