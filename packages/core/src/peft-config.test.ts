import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ConfigError } from './errors.js';
import { fixturePath } from './testing/fixtures.js';
import { createAdapterConfig, isTargetModule, loraAlphaFor, loraRankFor, loraScaling, matchPatternKey, parseAdapterConfig, serializeAdapterConfig } from './peft-config.js';

const fixtureConfig = (dir: string) => readFileSync(fixturePath('reference', dir, 'adapter_config.json'), 'utf8');

describe('the real PEFT 0.21 configs', () => {
  test.each(['peft-lora', 'peft-rslora'])('%s parses to the documented settings and writes back byte-identical', (dir) => {
    const text = fixtureConfig(dir);
    const cfg = parseAdapterConfig(text, `${dir}/adapter_config.json`);
    expect(cfg.r).toBe(4);
    expect(cfg.lora_alpha).toBe(8);
    expect(cfg.use_rslora).toBe(dir === 'peft-rslora');
    expect(cfg.target_modules).toEqual(['o_proj', 'k_proj', 'up_proj', 'v_proj', 'q_proj', 'down_proj', 'gate_proj']);
    expect(cfg.init_lora_weights).toBe(false);
    expect(cfg.extra.peft_version).toBe('0.21.0');
    expect(cfg.extra.loftq_config).toEqual({});
    expect(serializeAdapterConfig(cfg)).toBe(text);
  });

  test('scaling is alpha/r = 2 for LoRA and alpha/√r = 4 for rsLoRA (r = 4, alpha = 8)', () => {
    expect(loraScaling(parseAdapterConfig(fixtureConfig('peft-lora')), 'model.layers.0.self_attn.q_proj')).toBe(2);
    expect(loraScaling(parseAdapterConfig(fixtureConfig('peft-rslora')), 'model.layers.0.self_attn.q_proj')).toBe(4);
  });
});

describe('round trip of fields tsd-peft does not interpret', () => {
  test('unknown fields, nested objects, unicode and float literals survive', () => {
    const text = [
      '{',
      '  "custom": {',
      '    "b": 1.0,',
      '    "a": [',
      '      1,',
      '      2.5e-07',
      '    ]',
      '  },',
      '  "lora_alpha": 16.0,',
      '  "lora_dropout": 0.05,',
      '  "note": "caf\\u00e9",',
      '  "peft_type": "LORA",',
      '  "r": 8',
      '}',
    ].join('\n');
    const cfg = parseAdapterConfig(text);
    expect(cfg.extra.custom).toEqual({ b: 1, a: [1, 2.5e-7] });
    expect(cfg.lora_alpha).toBe(16);
    const out = serializeAdapterConfig(cfg);
    // missing known fields come back with PEFT's defaults; everything present keeps its exact spelling
    expect(out).toContain('"custom": {\n    "a": [\n      1,\n      2.5e-07\n    ],\n    "b": 1.0\n  }');
    expect(out).toContain('"lora_alpha": 16.0,');
    expect(out).toContain('"lora_dropout": 0.05,');
    expect(out).toContain('"note": "caf\\u00e9",');
    expect(out).toContain('"rank_pattern": {},');
    expect(serializeAdapterConfig(parseAdapterConfig(out))).toBe(out);
  });

  test('a fresh config writes lora_dropout as a Python float, like PEFT', () => {
    const out = serializeAdapterConfig(createAdapterConfig({ r: 4, lora_alpha: 8, target_modules: ['q_proj'] }));
    expect(out).toContain('"lora_dropout": 0.0,');
    expect(out).toContain('"lora_alpha": 8,');
    expect(out.endsWith('}')).toBe(true);
  });
});

test('fan_in_fan_out: true (Python PEFT on GPT-2 Conv1D) is accepted: the factor layouts are the same', () => {
  const cfg = parseAdapterConfig(JSON.stringify({ ...JSON.parse(fixtureConfig('peft-lora')), fan_in_fan_out: true }));
  expect(cfg.fan_in_fan_out).toBe(true);
});

describe('refusals name the field', () => {
  const base = JSON.parse(fixtureConfig('peft-lora')) as Record<string, unknown>;
  const withField = (patch: Record<string, unknown>) => JSON.stringify({ ...base, ...patch });
  test.each([
    ['use_dora', { use_dora: 'yes' }],
    ['fan_in_fan_out', { fan_in_fan_out: 'yes' }],
    ['bias', { bias: 'all' }],
    ['init_lora_weights', { init_lora_weights: 'pissa_niter_4' }],
    ['init_lora_weights', { init_lora_weights: 'olora' }],
    ['modules_to_save', { modules_to_save: ['lm_head'] }],
    ['lora_bias', { lora_bias: true }],
    ['alora_invocation_tokens', { alora_invocation_tokens: [1, 2] }],
    ['layer_replication', { layer_replication: [[0, 2]] }],
    ['r', { r: 0 }],
    ['r', { r: 2.5 }],
    ['lora_alpha', { lora_alpha: 'eight' }],
    ['lora_dropout', { lora_dropout: 1.5 }],
    ['use_rslora', { use_rslora: 'yes' }],
    ['target_modules', { target_modules: [1, 2] }],
    ['target_modules', { target_modules: '(unclosed' }],
    ['rank_pattern.q_proj', { rank_pattern: { q_proj: -1 } }],
    ['peft_type', { peft_type: 'IA3' }],
  ])('%s', (field, patch) => {
    let error: unknown;
    try {
      parseAdapterConfig(withField(patch), 'dir/adapter_config.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as ConfigError).file).toBe('dir/adapter_config.json');
  });

  test('malformed JSON and non-objects', () => {
    expect(() => parseAdapterConfig('{"r": 4,', 'x.json')).toThrow(/not valid JSON.*file x\.json/);
    expect(() => parseAdapterConfig('[1]')).toThrow(ConfigError);
  });

  test('init-only settings that leave the base model intact are accepted', () => {
    expect(parseAdapterConfig(withField({ init_lora_weights: 'gaussian', eva_config: null })).init_lora_weights).toBe('gaussian');
  });
});

describe('rank_pattern / alpha_pattern (PEFT get_pattern_key)', () => {
  const cfg = createAdapterConfig({
    r: 4,
    lora_alpha: 8,
    target_modules: ['q_proj', 'v_proj'],
    rank_pattern: { 'layers.1.self_attn.q_proj': 16, v_proj: 2 },
    alpha_pattern: { 'model.layers.0.self_attn.v_proj': 1 },
  });

  test('keys match a dotted suffix of the module path, first key wins', () => {
    expect(loraRankFor(cfg, 'model.layers.1.self_attn.q_proj')).toBe(16);
    expect(loraRankFor(cfg, 'model.layers.11.self_attn.q_proj')).toBe(4); // "layers.1." must start at a dot boundary
    expect(loraRankFor(cfg, 'model.layers.0.self_attn.v_proj')).toBe(2);
    expect(loraRankFor(cfg, 'model.layers.0.self_attn.xv_proj')).toBe(4);
    expect(loraAlphaFor(cfg, 'model.layers.0.self_attn.v_proj')).toBe(1);
    expect(loraAlphaFor(cfg, 'model.layers.1.self_attn.v_proj')).toBe(8);
    expect(matchPatternKey({ q_proj: 1, 'layers\\.1\\..*': 2 }, 'model.layers.1.self_attn.q_proj')).toBe('q_proj');
  });

  test('scaling combines the matched rank and alpha (alpha/r, or alpha/√r with rsLoRA)', () => {
    expect(loraScaling(cfg, 'model.layers.1.self_attn.q_proj')).toBe(8 / 16);
    expect(loraScaling(cfg, 'model.layers.0.self_attn.v_proj')).toBe(1 / 2);
    expect(loraScaling({ ...cfg, use_rslora: true }, 'model.layers.1.self_attn.q_proj')).toBe(8 / 4);
  });
});

describe('isTargetModule (PEFT check_target_module_exists)', () => {
  test('list: exact name or dotted suffix', () => {
    const cfg = createAdapterConfig({ target_modules: ['q_proj', 'mlp.up_proj'] });
    expect(isTargetModule(cfg, 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(isTargetModule(cfg, 'model.layers.0.mlp.up_proj')).toBe(true);
    expect(isTargetModule(cfg, 'model.layers.0.self_attn.xq_proj')).toBe(false);
    expect(isTargetModule(cfg, 'q_proj')).toBe(true);
  });

  test('string: full-match regex; all-linear skips lm_head; exclusions and layer filters apply', () => {
    expect(isTargetModule(createAdapterConfig({ target_modules: '.*\\.(q|v)_proj' }), 'model.layers.2.self_attn.v_proj')).toBe(true);
    expect(isTargetModule(createAdapterConfig({ target_modules: '(q|v)_proj' }), 'model.layers.2.self_attn.v_proj')).toBe(false);
    const all = createAdapterConfig({ target_modules: 'all-linear', exclude_modules: ['o_proj'] });
    expect(isTargetModule(all, 'lm_head')).toBe(false);
    expect(isTargetModule(all, 'model.layers.0.self_attn.o_proj')).toBe(false);
    expect(isTargetModule(all, 'model.layers.0.mlp.down_proj')).toBe(true);
    const layered = createAdapterConfig({ target_modules: ['q_proj'], layers_to_transform: [1, 3], layers_pattern: 'layers' });
    expect(isTargetModule(layered, 'model.layers.3.self_attn.q_proj')).toBe(true);
    expect(isTargetModule(layered, 'model.layers.2.self_attn.q_proj')).toBe(false);
  });
});
