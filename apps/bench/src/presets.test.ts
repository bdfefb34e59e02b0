import { describe, expect, it } from 'vitest';
import { PRESETS } from './presets.js';
import { CLAIMS } from './report/verdicts.js';

describe('claims preset', () => {
  const p = PRESETS.claims;

  it("runs the paper setting: t = 100, s = 8, at least 5 shared seeds, past LoRA-TSD's 2t launch", () => {
    expect(p.t).toBe(100);
    expect(p.s).toBe(8);
    expect(p.seeds.length).toBeGreaterThanOrEqual(5);
    expect(p.steps).toBeGreaterThan(2 * p.t);
    expect(p.tasks).toEqual(['shakespeare']);
  });

  it('plans both sides of every paper claim', () => {
    const has = (m: string, r: number): boolean => (p.pairs ?? []).some((x) => x.method === m && x.r === r);
    for (const claim of CLAIMS) {
      const judged = (p.pairs ?? []).some((b) => {
        const rank = claim.challengerRank(b.r);
        return b.method === claim.baseline && rank !== null && has(claim.challenger, rank);
      });
      expect(judged, claim.id).toBe(true);
    }
  });
});
