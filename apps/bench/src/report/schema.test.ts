import { ADAPTER_METHODS, VARIANTS } from '@tsd-peft/tfjs';
import { describe, expect, it } from 'vitest';
import { methodColor } from '../svg/frame.js';
import { benchMethods, tsdMethods } from './methods.js';

describe('the bench method list', () => {
  it('is every method of the tfjs registry, each with its own colour', () => {
    expect([...benchMethods()].sort()).toEqual([...ADAPTER_METHODS].sort());
    expect(new Set(benchMethods().map((m) => methodColor(m))).size).toBe(benchMethods().length);
  });

  it('keeps the report order of the built-in methods: full fine-tuning, the low-rank methods, the TSD methods', () => {
    expect(benchMethods().filter((m) => m in VARIANTS)).toEqual(['full', 'lora', 'rslora', 'pissa', 'milora', 'dora', 'lora-dash', 'lora-init', 'lora-tsd']);
  });

  it('marks as TSD exactly the methods whose variant reports selections', () => {
    expect(tsdMethods()).toEqual(['lora-dash', 'lora-init', 'lora-tsd']);
  });

  it('colours the built-in methods as before and unknown names grey', () => {
    const colors = Object.fromEntries(Object.keys(VARIANTS).map((m) => [m, methodColor(m)]));
    expect(colors).toEqual({
      full: '#4e79a7',
      lora: '#f28e2b',
      rslora: '#e15759',
      pissa: '#76b7b2',
      milora: '#59a14f',
      'lora-dash': '#edc948',
      'lora-init': '#b07aa1',
      'lora-tsd': '#ff9da7',
      dora: '#bab0ac',
    });
    expect(methodColor('no-such-method')).toBe('#9c755f');
  });
});
