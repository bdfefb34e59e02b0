import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { constantLr, cosineWarmupDecay, linearWarmupDecay } from './schedules.js';

// Expected values are the closed forms of transformers' get_linear/cosine_schedule_with_warmup
// (multiplied by lr), evaluated by hand at the key steps; float64, so 1e-12 is tight but safe.
describe('LR schedules', () => {
  it('constant', () => {
    const lr = constantLr(3e-3);
    expect([0, 1, 1000].map(lr)).toEqual([3e-3, 3e-3, 3e-3]);
  });

  it('linear warmup then linear decay (HF get_linear_schedule_with_warmup)', () => {
    const lr = linearWarmupDecay({ lr: 2, warmupSteps: 10, totalSteps: 110 });
    const at = (s: number) => lr(s);
    expect(at(0)).toBe(0); // HF's first update uses lr·0/w
    expect(at(5)).toBeCloseTo(1, 12);
    expect(at(10)).toBeCloseTo(2, 12); // peak at the end of warmup
    expect(at(60)).toBeCloseTo(1, 12); // halfway through the decay
    expect(at(109)).toBeCloseTo(0.02, 12);
    expect(at(110)).toBe(0);
    expect(at(500)).toBe(0);
    const floored = linearWarmupDecay({ lr: 2, warmupSteps: 0, totalSteps: 100, minLrRatio: 0.1 });
    expect(floored(0)).toBeCloseTo(2, 12); // no warmup: full lr at once
    expect(floored(50)).toBeCloseTo(2 * (0.1 + 0.9 * 0.5), 12);
    expect(floored(100)).toBeCloseTo(0.2, 12);
  });

  it('linear warmup then cosine decay (HF get_cosine_schedule_with_warmup)', () => {
    const lr = cosineWarmupDecay({ lr: 1, warmupSteps: 4, totalSteps: 104 });
    expect(lr(0)).toBe(0);
    expect(lr(2)).toBeCloseTo(0.5, 12);
    expect(lr(4)).toBeCloseTo(1, 12);
    expect(lr(29)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), 12); // a quarter of the decay: ≈0.854
    expect(lr(54)).toBeCloseTo(0.5, 12);
    expect(lr(104)).toBeCloseTo(0, 12);
    expect(lr(150)).toBe(0); // held at the floor past totalSteps (HF's cosine would rise again)
    const floored = cosineWarmupDecay({ lr: 1, warmupSteps: 4, totalSteps: 104, minLrRatio: 0.2 });
    expect(floored(54)).toBeCloseTo(0.2 + 0.8 * 0.5, 12);
    expect(floored(104)).toBeCloseTo(0.2, 12);
    expect(floored(1000)).toBeCloseTo(0.2, 12);
  });

  it('refuses invalid settings naming the field', () => {
    expect(() => constantLr(-1)).toThrow(ConfigError);
    expect(() => linearWarmupDecay({ lr: 1, warmupSteps: 11, totalSteps: 10 })).toThrow(/warmupSteps/);
    expect(() => cosineWarmupDecay({ lr: 1, warmupSteps: 0, totalSteps: 0 })).toThrow(/totalSteps/);
    expect(() => cosineWarmupDecay({ lr: 1, warmupSteps: 0, totalSteps: 5, minLrRatio: 2 })).toThrow(/minLrRatio/);
    expect(() => linearWarmupDecay({ lr: Number.NaN, warmupSteps: 0, totalSteps: 5 })).toThrow(/lr/);
  });
});
