import { ConfigError } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { check, firstDifferentStep, maxAbsDiff, relativeDiff, worst } from './replay-checks.js';
import { parseTrajectoryConfig, readTrajectoryFolder } from './replay-files.js';
import { trajectoryBatch } from './replay.js';

describe('trajectory folder reading', () => {
  it('reads the reference folder: config, batches, initial factors, launch, losses and optional references', () => {
    const folder = readTrajectoryFolder(fixturePath('reference', 'lora-dash-trajectory'));
    expect(folder.config).toMatchObject({ r: 4, alpha: 8, s: 4, t: 20, steps: 40, targetModules: ['q_proj', 'v_proj'] });
    expect(folder.config.optimizer).toEqual({ type: 'adam', lr: 0.003, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    expect(folder.config.baseModel).toBe(fixturePath('reference', 'hf', 'stories260K'));
    expect(folder.batches).toHaveLength(40);
    expect(folder.initial.modules.size).toBe(10);
    const q0 = folder.initial.modules.get('model.layers.0.self_attn.q_proj');
    expect([q0?.A.rows, q0?.A.cols, q0?.B.rows, q0?.scaling]).toEqual([4, 64, 64, 2]);
    expect(q0?.B.data.every((v) => v === 0)).toBe(true); // zero-B init (init_lora's metadata)
    expect(folder.launch.get('model.layers.0.self_attn.q_proj')?.topIndex).toEqual([63, 59, 55, 58]);
    expect(folder.finalLoraDash?.get('base_model.model.model.layers.0.self_attn.q_proj.dash_d')?.shape).toEqual([4]);
    expect(folder.inputs?.get('input2')).toHaveLength(64);
    expect(folder.dHistory).toHaveLength(20);
  });

  it('turns a reference batch into an unpadded TokenBatch scored on all rows × (seq − 1) targets', () => {
    const b = trajectoryBatch([
      [5, 6, 7],
      [8, 9, 10],
    ]);
    expect(Array.from(b.inputIds)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(Array.from(b.lossMask)).toEqual([0, 1, 1, 0, 1, 1]);
    expect(b.tokens).toBe(4);
  });

  it('refuses configs it cannot replay faithfully, naming the field and file', () => {
    const good = {
      target_modules: ['q_proj'],
      r: 2,
      lora_alpha: 4,
      dash_directions_s: 1,
      warmup_optimizer_steps: 1,
      steps: 2,
      optimizer: { type: 'torch.optim.AdamW', lr: 1e-3, betas: [0.9, 0.99], eps: 1e-6, weight_decay: 0.1 },
    };
    expect(parseTrajectoryConfig(good, 'c.json', '/p').optimizer).toEqual({ type: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 });
    expect(parseTrajectoryConfig(good, 'c.json', '/p').baseModel).toBeNull();
    const bad = (patch: Record<string, unknown>, pattern: RegExp) => {
      const call = () => parseTrajectoryConfig({ ...good, ...patch }, 'c.json', '/p');
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(pattern);
    };
    bad({ lora_dropout: 0.1 }, /lora_dropout.*c\.json/);
    bad({ optimizer: { type: 'SGD', lr: 1 } }, /optimizer\.type 'SGD'/);
    bad({ r: 0 }, /'r' must be a positive integer/);
    bad({ scaling: 3 }, /scaling 3 is not lora_alpha \/ r = 2/);
    bad({ target_modules: [] }, /target_modules/);
  });
});

describe('replay comparisons', () => {
  it('define relative and absolute differences that never pass on NaN or a length mismatch', () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBe(1);
    expect(maxAbsDiff([1, NaN], [1, 2])).toBe(Infinity);
    expect(maxAbsDiff([1], [1, 2])).toBe(Infinity);
    expect(relativeDiff([2, -4.004], [2, -4])).toBeCloseTo(1e-3, 12); // max|x − ref| / max|ref|
    expect(relativeDiff([0.5], [0])).toBe(0.5); // all-zero reference: absolute
    expect(check('x', NaN, 1, '').passed).toBe(false);
    expect(check('x', 1e-4, 1e-4, '').passed).toBe(true);
    expect(
      worst([
        ['a', 1],
        ['b', Infinity],
        ['c', 2],
      ]).name,
    ).toBe('b');
    expect(firstDifferentStep([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(firstDifferentStep([1, 2], [1, 2])).toBe(-1);
  });
});
