import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ConfigError, NonFiniteError, SafetensorsError, ShapeError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import { peftKey, peftMagnitudeKey } from './module-names.js';
import { fixturePath } from './testing/fixtures.js';
import { createAdapterConfig, parseAdapterConfig } from './peft-config.js';
import { createPeftAdapter, parsePeftAdapter, serializePeftAdapter } from './peft-adapter.js';
import { Rng } from './random.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { bfloat16BitsToNumber, numberToBfloat16Bits } from './dtype.js';

const read = (...parts: string[]) => new Uint8Array(readFileSync(fixturePath('reference', ...parts)));
const readText = (...parts: string[]) => readFileSync(fixturePath('reference', ...parts), 'utf8');

function randomFactors(rng: Rng, r: number, inDim: number, outDim: number, scaling: number): LoraFactors {
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return { A: { rows: r, cols: inDim, data: fill(r * inDim) }, B: { rows: outDim, cols: r, data: fill(outDim * r) }, scaling };
}

describe('the real PEFT adapters', () => {
  test.each([
    ['peft-lora', 2],
    ['peft-rslora', 4],
  ])('%s: 35 modules with PEFT’s exact tensors and scaling %d; both files write back byte-identical', (dir, scaling) => {
    const configJson = readText(dir, 'adapter_config.json');
    const weights = read(dir, 'adapter_model.safetensors');
    const adapter = parsePeftAdapter(configJson, weights, dir);
    expect(adapter.modules.size).toBe(35);
    expect(adapter.weightsDtype).toBe('F32');
    const raw = parseSafetensors(weights);
    for (const [module, f] of adapter.modules) {
      expect(f.scaling).toBe(scaling);
      // bit-for-bit the float32s PEFT saved
      const a = raw.tensors.get(peftKey(module, 'lora_A')) as SafetensorsTensor;
      const b = raw.tensors.get(peftKey(module, 'lora_B')) as SafetensorsTensor;
      expect(Buffer.from(f.A.data.buffer).equals(Buffer.from(a.data))).toBe(true);
      expect(Buffer.from(f.B.data.buffer).equals(Buffer.from(b.data))).toBe(true);
      expect([f.A.rows, f.A.cols]).toEqual(a.shape);
      expect([f.B.rows, f.B.cols]).toEqual(b.shape);
    }
    // spot values read independently with numpy: down_proj of layer 2, B[0, :2] and the float64 sum of B
    const down = adapter.modules.get('model.layers.2.mlp.down_proj') as LoraFactors;
    if (dir === 'peft-lora') {
      expect([down.B.data[0], down.B.data[1]]).toEqual([0.16426455974578857, 0.06877779960632324]);
      expect(down.B.data.reduce((s, v) => s + v, 0)).toBeCloseTo(-3.391034424304962, 10);
    }
    const out = serializePeftAdapter(adapter);
    expect(out.configJson).toBe(configJson);
    expect(Buffer.from(out.weights).equals(Buffer.from(weights))).toBe(true);
  });
});

describe('the real PEFT DoRA adapter (peft-dora/adapter, use_dora)', () => {
  const dir = 'peft-dora/adapter';
  const configJson = readText(dir, 'adapter_config.json');
  const weights = read(dir, 'adapter_model.safetensors');

  test('35 modules with lora_A, lora_B and lora_magnitude_vector read bit for bit; both files write back byte-identical', () => {
    const adapter = parsePeftAdapter(configJson, weights, dir);
    expect(adapter.config.use_dora).toBe(true);
    expect(adapter.modules.size).toBe(35);
    const magnitudes = adapter.magnitudes;
    if (magnitudes === undefined) throw new Error('the DoRA fixture parsed without magnitudes');
    expect(magnitudes.size).toBe(35);
    const raw = parseSafetensors(weights);
    for (const [module, f] of adapter.modules) {
      const m = raw.tensors.get(peftMagnitudeKey(module)) as SafetensorsTensor;
      expect(m.dtype).toBe('F32');
      expect(m.shape).toEqual([f.B.rows]);
      expect(Buffer.from((magnitudes.get(module) as Float32Array).buffer).equals(Buffer.from(m.data))).toBe(true);
    }
    // 3 tensors per module and nothing else (PEFT names the magnitude without `.weight`)
    expect(raw.headerKeyOrder).toHaveLength(105);
    expect(raw.headerKeyOrder.filter((k) => k.endsWith('.lora_magnitude_vector'))).toHaveLength(35);
    const out = serializePeftAdapter(adapter);
    expect(out.configJson).toBe(configJson);
    expect(Buffer.from(out.weights).equals(Buffer.from(weights))).toBe(true);
  });

  test('an adapter built here writes PEFT’s tensor names, order, dtypes, shapes and metadata, and only config keys PEFT 0.21 knows', () => {
    const parsed = parsePeftAdapter(configJson, weights, dir);
    const built = createPeftAdapter(
      parsed.modules,
      { r: 4, lora_alpha: 8, use_dora: true, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      parsed.magnitudes,
    );
    const out = serializePeftAdapter(built);
    // the same bytes: names, header order, dtypes, shapes, offsets, `{"format":"pt"}` metadata, data
    expect(Buffer.from(out.weights).equals(Buffer.from(weights))).toBe(true);
    const ours = JSON.parse(out.configJson) as Record<string, unknown>;
    const peft = JSON.parse(configJson) as Record<string, unknown>;
    // PEFT's LoraConfig(**json) rejects unknown keys: every key we write is one PEFT 0.21 writes
    expect(Object.keys(ours).filter((k) => !(k in peft))).toEqual([]);
    for (const k of ['peft_type', 'use_dora', 'r', 'lora_alpha', 'use_rslora', 'fan_in_fan_out', 'bias', 'lora_dropout']) expect(ours[k], k).toEqual(peft[k]);
    expect([...(ours.target_modules as string[])].sort()).toEqual([...(peft.target_modules as string[])].sort());
  });

  test('a missing, misshapen or unasked-for magnitude is refused, naming the tensor', () => {
    const raw = parseSafetensors(weights);
    const module = 'model.layers.0.self_attn.q_proj';
    const without = new Map([...raw.tensors].filter(([k]) => k !== peftMagnitudeKey(module)));
    const e = (() => {
      try {
        parsePeftAdapter(configJson, serializeSafetensors(without, { format: 'pt' }), dir);
      } catch (err) {
        return err as SafetensorsError;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.tensor).toBe(peftMagnitudeKey(module));
    const short = new Map(raw.tensors).set(peftMagnitudeKey(module), float32Tensor([3], new Float32Array(3)));
    expect(() => parsePeftAdapter(configJson, serializeSafetensors(short, { format: 'pt' }), dir)).toThrow(ShapeError);
    const noDora = configJson.replace('"use_dora": true', '"use_dora": false');
    expect(() => parsePeftAdapter(noDora, weights, dir)).toThrow(/use_dora/);
    const parsed = parsePeftAdapter(configJson, weights, dir);
    expect(() => createPeftAdapter(parsed.modules, { use_dora: true })).toThrow(ConfigError);
    expect(() => createPeftAdapter(parsed.modules, {}, parsed.magnitudes)).toThrow(/use_dora is false/);
  });
});

describe('writing adapters built in JavaScript', () => {
  const q = (l: number) => `model.layers.${l}.self_attn.q_proj`;
  const v = (l: number) => `model.layers.${l}.self_attn.v_proj`;

  test('uniform rank: r and lora_alpha from the factors, target_modules lists the modules', () => {
    const rng = Rng.fromSeed(1);
    const modules = new Map([
      [q(0), randomFactors(rng, 4, 64, 64, 2)],
      [v(0), randomFactors(rng, 4, 64, 32, 2)],
    ]);
    const adapter = createPeftAdapter(modules, { base_model_name_or_path: 'hf/stories260K' });
    expect(adapter.config.r).toBe(4);
    expect(adapter.config.lora_alpha).toBe(8);
    expect(adapter.config.rank_pattern).toEqual({});
    expect(adapter.config.target_modules).toEqual([q(0), v(0)]);
    const { configJson, weights } = serializePeftAdapter(adapter);
    const back = parsePeftAdapter(configJson, weights);
    for (const [m, f] of modules) expect(back.modules.get(m)).toEqual(f);
  });

  test('mixed ranks and scalings go into rank_pattern / alpha_pattern and come back exactly', () => {
    const rng = Rng.fromSeed(2);
    // e.g. a LoRA-Dash export folds s = 4 dash directions into some modules (rank r + s)
    const modules = new Map([
      [q(0), randomFactors(rng, 4, 64, 64, 2)],
      [v(0), randomFactors(rng, 8, 64, 32, 2)],
      [q(1), randomFactors(rng, 4, 64, 64, 2)],
      [v(1), randomFactors(rng, 8, 64, 32, 0.75)],
    ]);
    for (const use_rslora of [false, true]) {
      const adapter = createPeftAdapter(modules, { use_rslora });
      const { configJson, weights } = serializePeftAdapter(adapter);
      const cfg = parseAdapterConfig(configJson);
      expect(cfg.r).toBe(4);
      expect(cfg.rank_pattern).toEqual({ [v(0)]: 8, [v(1)]: 8 });
      expect(Object.keys(cfg.alpha_pattern).sort()).toEqual([v(0), v(1)]);
      const back = parsePeftAdapter(configJson, weights);
      for (const [m, f] of modules) {
        const g = back.modules.get(m) as LoraFactors;
        expect(g.A).toEqual(f.A);
        expect(g.B).toEqual(f.B);
        // alpha is stored in decimal; scaling survives to float64 rounding (≤ 1 ulp here)
        expect(Math.abs(g.scaling - f.scaling)).toBeLessThanOrEqual(1e-15 * f.scaling);
      }
    }
  });

  test('a fresh config for the real adapter’s modules targets exactly those 35 modules', () => {
    const adapter = parsePeftAdapter(readText('peft-lora', 'adapter_config.json'), read('peft-lora', 'adapter_model.safetensors'));
    const rebuilt = createPeftAdapter(adapter.modules);
    expect(rebuilt.config.target_modules).toEqual([...adapter.modules.keys()]);
    expect([rebuilt.config.r, rebuilt.config.lora_alpha, rebuilt.config.rank_pattern]).toEqual([4, 8, {}]);
  });

  test('BF16 and F16 output round to nearest and read back as those values', () => {
    const rng = Rng.fromSeed(3);
    const f = randomFactors(rng, 2, 8, 4, 1);
    const adapter = createPeftAdapter(new Map([[q(0), f]]), { lora_alpha: 2, r: 2 });
    const bf = parsePeftAdapter(...toArgs(serializePeftAdapter(adapter, { dtype: 'BF16' })));
    expect(bf.weightsDtype).toBe('BF16');
    const got = bf.modules.get(q(0)) as LoraFactors;
    for (let i = 0; i < f.A.data.length; i++) {
      expect(got.A.data[i]).toBe(bfloat16BitsToNumber(numberToBfloat16Bits(f.A.data[i] as number)));
    }
    // re-writing a BF16 adapter keeps BF16, byte for byte
    const again = serializePeftAdapter(bf);
    expect(again.weights).toEqual(serializePeftAdapter(adapter, { dtype: 'BF16' }).weights);
    const half = parsePeftAdapter(...toArgs(serializePeftAdapter(adapter, { dtype: 'F16' })));
    // binary16 keeps 11 significant bits: relative error ≤ 2^-11 for these normal-range values
    const h = half.modules.get(q(0)) as LoraFactors;
    for (let i = 0; i < f.B.data.length; i++) {
      expect(Math.abs((h.B.data[i] as number) - (f.B.data[i] as number))).toBeLessThanOrEqual(2 ** -11 * Math.abs(f.B.data[i] as number) + 2 ** -24);
    }
  });
});

function toArgs(s: { configJson: string; weights: Uint8Array }): [string, Uint8Array] {
  return [s.configJson, s.weights];
}

describe('malformed adapters', () => {
  const configJson = readText('peft-lora', 'adapter_config.json');
  const module = 'model.layers.0.self_attn.q_proj';
  const A = float32Tensor([4, 64], new Float32Array(256));
  const B = float32Tensor([64, 4], new Float32Array(256));
  const file = (tensors: Record<string, SafetensorsTensor>) => serializeSafetensors(tensors, { format: 'pt' });

  test('a module without lora_B', () => {
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(module, 'lora_A')]: A }), 'dir')).toThrow(
      expect.objectContaining({ name: 'SafetensorsError', tensor: peftKey(module, 'lora_B'), file: 'dir/adapter_model.safetensors' }),
    );
  });

  test('rank differs between A and B, or from the config', () => {
    const B3 = float32Tensor([64, 3], new Float32Array(192));
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(module, 'lora_A')]: A, [peftKey(module, 'lora_B')]: B3 }))).toThrow(ShapeError);
    const A8 = float32Tensor([8, 64], new Float32Array(512));
    const B8 = float32Tensor([64, 8], new Float32Array(512));
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(module, 'lora_A')]: A8, [peftKey(module, 'lora_B')]: B8 }))).toThrow(/config gives r = 4/);
  });

  test('tensors that are not LoRA factors (DoRA magnitude), 1-D factors, untargeted modules', () => {
    const dora = { [peftKey(module, 'lora_A')]: A, [peftKey(module, 'lora_B')]: B, [`base_model.model.${module}.lora_magnitude_vector`]: float32Tensor([64], new Float32Array(64)) };
    expect(() => parsePeftAdapter(configJson, file(dora))).toThrow(SafetensorsError);
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(module, 'lora_A')]: float32Tensor([256], new Float32Array(256)) }))).toThrow(ShapeError);
    const lm = 'lm_head';
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(lm, 'lora_A')]: A, [peftKey(lm, 'lora_B')]: B }))).toThrow(ConfigError);
  });

  test('integer tensors', () => {
    const ints: SafetensorsTensor = { dtype: 'I32', shape: [4, 64], data: new Uint8Array(1024) };
    expect(() => parsePeftAdapter(configJson, file({ [peftKey(module, 'lora_A')]: ints, [peftKey(module, 'lora_B')]: B }))).toThrow(SafetensorsError);
  });

  test('non-finite scaling is refused before anything is written', () => {
    const cfg = createAdapterConfig({ target_modules: ['q_proj'] });
    const rng = Rng.fromSeed(4);
    const bad = { config: cfg, modules: new Map([[module, { ...randomFactors(rng, 2, 4, 4, 1), scaling: NaN }]]) };
    expect(() => serializePeftAdapter(bad)).toThrow(NonFiniteError);
  });
});
