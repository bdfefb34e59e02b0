import { describe, expect, it } from 'vitest';
import { ConfigError, NonFiniteError, ShapeError } from './errors.js';
import { loraRank, loraScalingFor, validateLoraFactors, type LoraFactors } from './lora-factors.js';

const m = (rows: number, cols: number) => ({ rows, cols, data: new Float32Array(rows * cols) });

describe('loraScalingFor', () => {
  it('is alpha/r, or alpha/√r with rsLoRA (PEFT update_layer)', () => {
    // The reference trajectory: r = 4, alpha = 8 → scaling 2; the rsLoRA adapter: 8/√4 = 4.
    expect(loraScalingFor(4, 8)).toBe(2);
    expect(loraScalingFor(4, 8, true)).toBe(4);
    expect(loraScalingFor(3, 1, true)).toBeCloseTo(1 / Math.sqrt(3), 15);
  });

  it('rejects a non-positive or fractional rank and a non-finite alpha', () => {
    expect(() => loraScalingFor(0, 8)).toThrow(ConfigError);
    expect(() => loraScalingFor(2.5, 8)).toThrow(ConfigError);
    expect(() => loraScalingFor(4, Number.NaN)).toThrow(ConfigError);
  });
});

describe('validateLoraFactors', () => {
  it('returns r for consistent factors and checks them against the weight', () => {
    const f: LoraFactors = { A: m(4, 64), B: m(32, 4), scaling: 2 };
    expect(validateLoraFactors(f, { rows: 32, cols: 64 }, 'v_proj')).toBe(4);
    expect(loraRank(f)).toBe(4);
  });

  it('throws ShapeError naming the module tensor for each kind of mismatch', () => {
    const name = 'model.layers.0.self_attn.v_proj';
    const esc = name.replace(/\./g, '\\.');
    expect(() => validateLoraFactors({ A: m(4, 64), B: m(32, 3), scaling: 2 }, undefined, name)).toThrow(ShapeError);
    expect(() => validateLoraFactors({ A: m(4, 64), B: m(32, 3), scaling: 2 }, undefined, name)).toThrow(new RegExp(esc));
    expect(() => validateLoraFactors({ A: m(4, 64), B: m(64, 4), scaling: 2 }, { rows: 32, cols: 64 }, name)).toThrow(new RegExp(`${esc}\\.lora_B\\.weight`));
    expect(() => validateLoraFactors({ A: m(4, 32), B: m(32, 4), scaling: 2 }, { rows: 32, cols: 64 }, name)).toThrow(new RegExp(`${esc}\\.lora_A\\.weight`));
    const short = { rows: 4, cols: 64, data: new Float32Array(10) };
    expect(() => validateLoraFactors({ A: short, B: m(32, 4), scaling: 2 }, undefined, name)).toThrow(/buffer holds 10/);
    expect(() => validateLoraFactors({ A: m(0, 64), B: m(32, 0), scaling: 2 }, undefined, name)).toThrow(ShapeError);
    expect(() => validateLoraFactors({ A: m(4, 64), B: m(32, 4), scaling: Number.POSITIVE_INFINITY }, undefined, name)).toThrow(NonFiniteError);
  });
});
