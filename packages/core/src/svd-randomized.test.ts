import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from './errors.js';
import { gaussianMatrix, knownSpectrum, orthonormalityError } from './svd-checks.test-helper.js';
import { svd } from './svd-exact.js';
import { randomizedSvd } from './svd-randomized.js';

// σᵢ = 0.7^i: a fast-decaying spectrum like a trained weight's head.
const decaying = Float64Array.from({ length: 80 }, (_, i) => 0.7 ** i);
const a = knownSpectrum(120, 80, decaying, 5);

describe('randomizedSvd', () => {
  it('recovers the top-r triplets of a decaying spectrum', () => {
    const exact = svd(a);
    for (const rank of [1, 8, 20]) {
      const r = randomizedSvd(a, { rank, seed: 3 });
      expect(r.S.length).toBe(rank);
      expect(r.U.rows).toBe(120);
      expect(r.U.cols).toBe(rank);
      expect(r.Vt.rows).toBe(rank);
      expect(r.Vt.cols).toBe(80);
      // With p = 10, q = 2 the error bound of Halko et al. (Thm 10.7/§10.4) is
      // ~σ_{r+p+1}·(σ_{r+p+1}/σ_r)^{2q}, i.e. 0.7^(10·5) ≈ 2e-8 relative: 1e-6 is safe.
      for (let i = 0; i < rank; i++) expect(Math.abs((r.S[i] as number) / (exact.S[i] as number) - 1)).toBeLessThan(1e-6);
      expect(orthonormalityError(r.U)).toBeLessThan(1e-12);
      expect(orthonormalityError(r.Vt, true)).toBeLessThan(1e-12);
      // Same sign convention as svd(): the leading vectors agree entrywise.
      for (let i = 0; i < Math.min(rank, 5); i++) {
        let diff = 0;
        for (let t = 0; t < 120; t++) diff = Math.max(diff, Math.abs((r.U.data[t * rank + i] as number) - (exact.U.data[t * 80 + i] as number)));
        expect(diff).toBeLessThan(1e-5);
      }
    }
  });

  it('is deterministic under a seed and sensitive to it', () => {
    const x = gaussianMatrix(60, 90, 2);
    const r1 = randomizedSvd(x, { rank: 6, seed: 11 });
    const r2 = randomizedSvd(x, { rank: 6, seed: 11 });
    const r3 = randomizedSvd(x, { rank: 6, seed: 12, powerIterations: 0 });
    expect(r2.S).toEqual(r1.S);
    expect(r2.U.data).toEqual(r1.U.data);
    expect(r2.Vt.data).toEqual(r1.Vt.data);
    expect(r3.S).not.toEqual(r1.S);
  });

  it('handles wide, rank-deficient and full-rank (l = min(m, n)) inputs', () => {
    const lowRank = knownSpectrum(
      40,
      70,
      Float64Array.from({ length: 40 }, (_, i) => (i < 3 ? 3 - i : 0)),
      8,
    );
    const r = randomizedSvd(lowRank, { rank: 8, seed: 1 });
    expect(Math.abs((r.S[0] as number) - 3)).toBeLessThan(1e-12);
    expect(Math.abs((r.S[2] as number) - 1)).toBeLessThan(1e-12);
    expect(r.S[5] as number).toBeLessThan(1e-12);
    expect(orthonormalityError(r.U)).toBeLessThan(1e-12);
    const small = gaussianMatrix(9, 7, 4);
    const full = randomizedSvd(small, { rank: 7 });
    const exact = svd(small);
    for (let i = 0; i < 7; i++) expect(Math.abs((full.S[i] as number) - (exact.S[i] as number))).toBeLessThan(1e-12);
  });

  it("which: 'bottom' returns the exact SVD's smallest r triplets in descending order", () => {
    const exact = svd(a);
    const r = randomizedSvd(a, { rank: 4, which: 'bottom' });
    expect(Array.from(r.S)).toEqual(Array.from(exact.S.slice(76)));
    for (let t = 0; t < 120; t++) expect(r.U.data[t * 4 + 3]).toBe(exact.U.data[t * 80 + 79]);
    expect(r.Vt.data).toEqual(exact.Vt.data.slice(76 * 80));
  });

  it('validates rank and options with typed errors', () => {
    expect(() => randomizedSvd(a, { rank: 0, name: 'w' })).toThrow(ShapeError);
    expect(() => randomizedSvd(a, { rank: 81, name: 'w' })).toThrow(/tensor w/);
    expect(() => randomizedSvd(a, { rank: 2.5 })).toThrow(ShapeError);
    expect(() => randomizedSvd(a, { rank: 2, oversample: -1 })).toThrow(ConfigError);
    expect(() => randomizedSvd(a, { rank: 2, powerIterations: 1.5 })).toThrow(ConfigError);
  });
});
