import { describe, expect, it } from 'vitest';
import { PRESETS } from '../presets.js';
import { pairedDetectableEffect } from '../stats/power.js';
import { detectableDifferenceLines, QUICK_PRESET_SPREAD } from './detectable.js';

describe('detectableDifferenceLines', () => {
  it('prints one line per planned claim with effect × measured spread', () => {
    const p = PRESETS.claims;
    const lines = detectableDifferenceLines(p.tasks, p.pairs ?? [], p.seeds.length);
    expect(lines).toHaveLength(4);
    const d = pairedDetectableEffect(5) * (QUICK_PRESET_SPREAD['init-improves']?.sd ?? Number.NaN);
    expect(lines[2]).toContain(`init-improves (lora-init r8 vs lora r8): with 5 paired seeds the smallest detectable val NLL difference is ${d.toFixed(3)} nats`);
    expect(lines[1]).toContain('dash-r-over-8 (lora-dash r1 vs lora r8)');
  });

  it('prints nothing without a claim, without shakespeare or with one seed', () => {
    expect(detectableDifferenceLines(['shakespeare'], [{ method: 'lora', r: 8 }], 5)).toEqual([]);
    expect(
      detectableDifferenceLines(
        ['sst2'],
        [
          { method: 'lora', r: 8 },
          { method: 'lora-dash', r: 8 },
        ],
        5,
      ),
    ).toEqual([]);
    expect(
      detectableDifferenceLines(
        ['shakespeare'],
        [
          { method: 'lora', r: 8 },
          { method: 'lora-dash', r: 8 },
        ],
        1,
      ),
    ).toEqual([]);
  });
});
