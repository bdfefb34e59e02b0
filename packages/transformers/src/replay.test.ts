import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { REPLAY_TOLERANCES } from './replay-checks.js';
import { replayTrajectory, type ReplayReport } from './replay.js';

const dir = fixturePath('reference', 'lora-dash-trajectory');
const reference = JSON.parse(readFileSync(join(dir, 'losses.json'), 'utf8')) as { lora: number[]; lora_dash: number[] };
let report: ReplayReport;

beforeAll(async () => {
  await useWasmBackend();
  // Both 40-step runs on the real stories260K through fineTune (the code users run).
  report = await replayTrajectory(dir);
});

describe('replayTrajectory on the reference LoRA-Dash trajectory (issue 4 fidelity bar)', () => {
  it('passes every check with the issue tolerances', () => {
    const failed = report.checks.filter((c) => !c.passed).map((c) => `${c.name} = ${c.value} > ${c.tolerance} (${c.definition})`);
    expect(failed).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.skipped).toEqual([]);
    const names = report.checks.map((c) => c.name);
    expect(names).toEqual([
      'loss.lora',
      'loss.lora_dash',
      'launch.indices',
      'final.lora.A',
      'final.lora.B',
      'final.lora_dash.A',
      'final.lora_dash.B',
      'final.lora_dash.d',
      'logits.lora.input2',
      'logits.lora_dash.input2',
    ]);
    const tol = (name: string) => report.checks.find((c) => c.name === name)?.tolerance;
    expect(tol('loss.lora_dash')).toBe(REPLAY_TOLERANCES.loss);
    expect(tol('final.lora_dash.d')).toBe(1e-3);
    expect(tol('logits.lora_dash.input2')).toBe(1e-3);
  });

  it('replays all 40 steps of both runs and launches on every module', () => {
    expect(report.runs.lora.losses).toHaveLength(40);
    expect(report.runs.lora_dash.losses).toHaveLength(40);
    expect(report.runs.lora.launch.size).toBe(0);
    expect(report.runs.lora_dash.launch.size).toBe(10);
    expect(report.runs.lora_dash.launch.get('model.layers.0.self_attn.q_proj')?.selected).toEqual([63, 59, 55, 58]);
    for (const [module, t] of report.runs.lora_dash.final) expect(t.d, module).toHaveLength(4);
    // Change rates at launch, fp32 torch vs ours: 1e-4 relative is the fixture README's tolerance.
    expect(report.measures.find((m) => m.name === 'launch.change_rate')?.value).toBeLessThan(1e-4);
  });

  it("matches LoRA's curve bitwise before the launch and departs from it after, as the reference does", () => {
    const { lora, lora_dash: dash } = report.runs;
    const t = report.config.t;
    // Steps 0..t: identical computations (at step t the dash term exists but d = 0 adds exactly 0).
    for (let i = 0; i <= t; i++) expect(dash.losses[i], `step ${i}`).toBe(lora.losses[i]);
    for (let i = t + 1; i < 40; i++) expect(dash.losses[i], `step ${i}`).not.toBe(lora.losses[i]);
    // The reference has the same split point, and our LoRA-Dash − LoRA gaps follow its gaps.
    for (let i = 0; i <= t; i++) expect(reference.lora_dash[i]).toBe(reference.lora[i]);
    for (let i = t + 1; i < 40; i++) {
      const ours = (dash.losses[i] as number) - (lora.losses[i] as number);
      const ref = (reference.lora_dash[i] as number) - (reference.lora[i] as number);
      // Each side is within 1e-4 of its reference, so the gaps agree to 2e-4 (in practice ~1e-6).
      expect(Math.abs(ours - ref), `step ${i}`).toBeLessThan(2e-4);
    }
    expect(report.measures.find((m) => m.name === 'first_step_lora_vs_dash_differ')?.value).toBe(t + 1);
  });
});
