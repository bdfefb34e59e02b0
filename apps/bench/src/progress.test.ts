import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressDisplay } from './progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, isTTY, columns: 200, write: (s: string) => chunks.push(s) };
}

describe('ProgressDisplay', () => {
  it('without a TTY prints plain lines at evenly spaced steps, with run, step, loss, ETA and runs done/total', () => {
    let t = 0;
    const out = sink(false);
    const p = new ProgressDisplay(out, { now: () => t, plainLinesPerRun: 4 });
    p.plan(4, 1);
    p.startRun('shakespeare/lora/r8/seed0', 20);
    for (let s = 1; s <= 20; s++) {
      t += 500;
      p.step(s, 4 - s * 0.05);
    }
    p.endRun('val_nll 3.9');
    const text = out.chunks.join('');
    expect(text).not.toContain('\x1b');
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('[2/4] shakespeare/lora/r8/seed0: 20 steps');
    expect(lines.filter((l) => l.includes(' step '))).toHaveLength(4); // steps 5, 10, 15, 20
    // after 10 steps at 0.5 s: run ETA = 10 × 0.5 s; two more runs of ~10 s each
    expect(lines[2]).toBe('[2/4] shakespeare/lora/r8/seed0 step 10/20 loss 3.5000 | ETA run 0:05, all 0:25');
    expect(lines.at(-1)).toBe('[2/4] shakespeare/lora/r8/seed0 done: val_nll 3.9');
  });

  it('on a TTY redraws one line in place (throttled) and keeps permanent lines above it', () => {
    let t = 0;
    const out = sink(true);
    const p = new ProgressDisplay(out, { now: () => t, redrawMs: 100 });
    p.plan(2, 0);
    p.startRun('sst2/lora-dash/r8/seed1', 100, 40);
    for (let s = 41; s <= 50; s++) {
      t += 30;
      p.step(s, 1);
    }
    const redraws = out.chunks.filter((c) => c.startsWith('\r\x1b[2K[')).length;
    expect(redraws).toBeGreaterThanOrEqual(2);
    expect(redraws).toBeLessThan(10); // throttled: 10 steps in 300 ms
    expect(out.chunks[0]).toBe('[1/2] sst2/lora-dash/r8/seed1: 100 steps (resuming at step 40)\n');
    p.phase('eval');
    expect(out.chunks.at(-1)).toContain('[eval]');
    p.log('note');
    expect(out.chunks.slice(-3)).toEqual(['\r\x1b[2K', 'note\n', expect.stringContaining('step 50/100')]);
    p.finish();
    expect(out.chunks.at(-1)).toBe('\r\x1b[2K');
  });

  it('formats durations', () => {
    expect(formatDuration(65_000)).toBe('1:05');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(formatDuration(Number.NaN)).toBe('?');
  });
});
