import { VARIANTS } from '@tsd-peft/tfjs';
import { describe, expect, it } from 'vitest';
import { METHOD_COLORS } from '../svg/frame.js';
import { METHOD_NAMES, TSD_METHODS } from './schema.js';

describe('the bench method list', () => {
  it('is exactly the built-in methods of the tfjs registry, each with its own colour', () => {
    expect([...METHOD_NAMES].sort()).toEqual(Object.keys(VARIANTS).sort());
    expect(new Set(METHOD_NAMES.map((m) => METHOD_COLORS[m])).size).toBe(METHOD_NAMES.length);
  });

  it('marks as TSD exactly the methods whose variant reports selections', () => {
    expect([...TSD_METHODS].sort()).toEqual(METHOD_NAMES.filter((m) => VARIANTS[m].tsdInfo !== undefined).sort());
  });
});
