import { describe, expect, it } from 'vitest';
import { logGamma, studentTCdf, studentTQuantile } from './student-t.js';
import { meanCi } from './summary.js';

describe('Student t', () => {
  it('matches published two-sided 95% critical values (tables to 3 decimals)', () => {
    const table: Array<[number, number]> = [
      [1, 12.706],
      [2, 4.303],
      [3, 3.182],
      [4, 2.776],
      [5, 2.571],
      [9, 2.262],
      [30, 2.042],
      [120, 1.98],
    ];
    for (const [df, t] of table) expect(studentTQuantile(0.975, df)).toBeCloseTo(t, 3);
  });

  it('df = 1 is the Cauchy distribution: quantile = tan(π(p − ½)) exactly', () => {
    for (const p of [0.6, 0.9, 0.975, 0.995]) expect(studentTQuantile(p, 1)).toBeCloseTo(Math.tan(Math.PI * (p - 0.5)), 8);
  });

  it('df = 2 has the closed form t = (2p − 1)·√(2 / (4p(1 − p)))', () => {
    for (const p of [0.55, 0.8, 0.975]) {
      const closed = (2 * p - 1) * Math.sqrt(2 / (4 * p * (1 - p)));
      expect(studentTQuantile(p, 2)).toBeCloseTo(closed, 9);
    }
  });

  it('the CDF is symmetric and tends to the normal for large df', () => {
    expect(studentTCdf(0, 7)).toBeCloseTo(0.5, 14);
    expect(studentTCdf(-1.3, 7) + studentTCdf(1.3, 7)).toBeCloseTo(1, 14);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(1.959964, 4);
  });

  it('logGamma matches factorials', () => {
    expect(logGamma(6)).toBeCloseTo(Math.log(120), 11); // the shift sum rounds at ~1e-12
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 11);
  });
});

describe('meanCi', () => {
  it('computes mean ± t·sd/√n (hand-checked: [1,2,3] → 2 ± 4.303·1/√3)', () => {
    const ci = meanCi([1, 2, 3]);
    expect(ci.mean).toBe(2);
    expect(ci.sd).toBeCloseTo(1, 14);
    expect(ci.halfWidth).toBeCloseTo((4.302652729911275 * 1) / Math.sqrt(3), 9);
  });

  it('has no interval from a single seed and drops non-finite values', () => {
    expect(Number.isNaN(meanCi([5]).halfWidth)).toBe(true);
    expect(meanCi([1, Number.NaN, 3]).n).toBe(2);
  });
});
