import { describe, expect, it } from 'vitest';
import { pairedDifference, type SeedValue } from './paired.js';

const sv = (values: Array<[number, number]>): SeedValue[] => values.map(([seed, value]) => ({ seed, value }));

describe('pairedDifference', () => {
  it('uses the t-table value t_{0.975, 4} = 2.776 for 5 seed pairs', () => {
    const a = sv([
      [0, 3.0],
      [1, 3.1],
      [2, 2.9],
      [3, 3.05],
      [4, 3.2],
    ]);
    const b = sv([
      [4, 3.25],
      [3, 3.0],
      [2, 2.95],
      [1, 3.2],
      [0, 3.1],
    ]); // any order: matched by seed
    const p = pairedDifference(a, b);
    const diffs = [-0.1, -0.1, -0.05, 0.05, -0.05];
    diffs.forEach((d, i) => expect(p.diffs[i]).toBeCloseTo(d, 12));
    const mean = -0.05;
    const sd = Math.sqrt(diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / 4);
    expect(p.mean).toBeCloseTo(mean, 12);
    expect(p.sd).toBeCloseTo(sd, 12);
    // table value to 3 decimals; the relative error of the half-width is then < 2e-4
    expect(p.halfWidth / ((2.776 * sd) / Math.sqrt(5))).toBeCloseTo(1, 3);
    expect(p.lo).toBeCloseTo(mean - p.halfWidth, 12);
    expect([p.aLower, p.aHigher, p.ties]).toEqual([4, 1, 0]);
  });

  it("reproduces the issue's names example: 3 pairs, 95% interval [−0.0086, 0.0016]", () => {
    const p = pairedDifference(
      sv([
        [0, -0.0014],
        [1, -0.0055],
        [2, -0.0037],
      ]),
      sv([
        [0, 0],
        [1, 0],
        [2, 0],
      ]),
    );
    expect(p.lo).toBeCloseTo(-0.0086, 4);
    expect(p.hi).toBeCloseTo(0.0016, 4);
    expect(p.aLower).toBe(3);
  });

  it('leaves out unmatched seeds and non-finite values; one pair has no interval', () => {
    const p = pairedDifference(
      sv([
        [0, 1],
        [1, Number.NaN],
        [5, 2],
      ]),
      sv([
        [0, 0.5],
        [1, 1],
        [2, 3],
      ]),
    );
    expect(p.seeds).toEqual([0]);
    expect(p.n).toBe(1);
    expect(Number.isNaN(p.halfWidth)).toBe(true);
  });
});
