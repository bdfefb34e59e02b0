import { describe, expect, it } from 'vitest';
import { Rng } from './random.js';

describe('Rng', () => {
  it('is deterministic under a seed and resumes exactly from its state', () => {
    const a = Rng.fromSeed(42);
    const b = Rng.fromSeed(42);
    const first = [a.nextFloat(), a.normal(), a.nextUint32()];
    expect([b.nextFloat(), b.normal(), b.nextUint32()]).toEqual(first);
    const saved = a.getState();
    const next = [a.normal(), a.nextFloat()];
    const restored = Rng.fromState(JSON.parse(JSON.stringify(saved)));
    expect([restored.normal(), restored.nextFloat()]).toEqual(next);
    expect(Rng.fromSeed(43).nextFloat()).not.toEqual(Rng.fromSeed(42).nextFloat());
  });

  it('draws uniform and normal samples with the right moments', () => {
    const rng = Rng.fromSeed(7);
    const n = 200_000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    for (let i = 0; i < n; i++) {
      su += rng.nextFloat();
      const z = rng.normal();
      sn += z;
      sn2 += z * z;
    }
    // Standard errors are ~6.5e-4 (uniform mean) and ~2.2e-3 (normal mean): allow 5σ.
    expect(Math.abs(su / n - 0.5)).toBeLessThan(3.5e-3);
    expect(Math.abs(sn / n)).toBeLessThan(1.2e-2);
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(1.6e-2);
  });
});
