import { describe, expect, it } from 'vitest';
import { minDetectableDifference, normalCdf, pairedDetectableEffect, pairedTPower } from './power.js';

describe('normalCdf', () => {
  it('matches table values to 1e-7', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 7);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 7);
    expect(normalCdf(0.8416212335729143)).toBeCloseTo(0.8, 7);
  });
});

describe('paired t power', () => {
  it('is the test size at no shift, and grows with the shift', () => {
    expect(pairedTPower(0, 4)).toBeCloseTo(0.05, 5);
    expect(pairedTPower(0, 1)).toBeCloseTo(0.05, 4);
    expect(pairedTPower(3, 4)).toBeGreaterThan(pairedTPower(2, 4));
  });

  // Reference: scipy.stats.nct (noncentral t), solving power = 0.8 at α = 0.05 two-sided.
  it('matches the noncentral-t effect sizes for 80% power (scipy), n = 3, 5, 10', () => {
    expect(pairedDetectableEffect(3)).toBeCloseTo(3.264044, 4);
    expect(pairedDetectableEffect(5)).toBeCloseTo(1.681997, 4);
    expect(pairedDetectableEffect(10)).toBeCloseTo(0.996001, 4);
  });

  it('scales with the spread and has no answer below 2 seeds', () => {
    expect(minDetectableDifference(0.01, 10)).toBeCloseTo(0.00996, 5);
    expect(Number.isNaN(minDetectableDifference(0.01, 1))).toBe(true);
  });
});
