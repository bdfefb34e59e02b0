import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { SafetensorsError, ShapeError } from './errors.js';
import type { Matrix } from './matrix.js';
import { nativeKey, peftKey } from './module-names.js';
import { loraFactorsRecord, loraRecord, readInitResidual, readLoraRecord, type DashState } from './lora-record.js';
import type { ModuleRecord } from './module-record.js';
import { NATIVE_METADATA_KEY, parseNativeAdapter, serializeNativeAdapter, type NativeAdapter } from './native-adapter.js';
import { fixturePath } from './testing/fixtures.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

const dir = ['reference', 'lora-dash-trajectory'];
const load = (name: string) => parseSafetensors(new Uint8Array(readFileSync(fixturePath(...dir, name))), name);
const launch = JSON.parse(readFileSync(fixturePath(...dir, 'launch.json'), 'utf8')) as {
  modules: Record<string, { top_index: number[]; change_rate: number[]; sigma: number[] }>;
};

function mat(t: SafetensorsTensor): Matrix<Float32Array> {
  return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: tensorToFloat32(t) };
}

const dashOf = (adapter: NativeAdapter, module: string): DashState | undefined => {
  const record = adapter.modules.get(module);
  return record === undefined ? undefined : readLoraRecord(record, { module }).dash;
};

/** The real 40-step LoRA-Dash run's final state, with its initialisation as the init residual. */
function trajectoryAdapter(): NativeAdapter {
  const final = load('final_lora_dash.safetensors');
  const init = load('init_lora.safetensors');
  const get = (file: typeof final, name: string) => file.tensors.get(name) as SafetensorsTensor;
  const modules = new Map<string, ModuleRecord>();
  for (const [module, { top_index, change_rate, sigma }] of Object.entries(launch.modules)) {
    modules.set(module, {
      method: 'lora-dash',
      ...loraRecord({
        factors: { A: mat(get(final, peftKey(module, 'lora_A'))), B: mat(get(final, peftKey(module, 'lora_B'))), scaling: 2 },
        dash: {
          launched: true,
          U: mat(get(final, nativeKey(module, 'dash_U'))),
          Vt: mat(get(final, nativeKey(module, 'dash_Vh'))),
          d: tensorToFloat32(get(final, nativeKey(module, 'dash_d'))),
          selected: top_index,
          // the reference's launch spectrum (torch float64 values from JSON)
          changeRates: Float64Array.from(change_rate),
          sigma: Float64Array.from(sigma),
        },
        init: { A0: mat(get(init, peftKey(module, 'lora_A'))), B0: mat(get(init, peftKey(module, 'lora_B'))), scaling: 2 },
      }),
    });
  }
  return { modules, baseModel: 'hf/stories260K', extra: { step: 40, rng: { words: [1, 2, 3, 4], spareNormal: null } } };
}

describe('native adapter round trip', () => {
  test('the real LoRA-Dash trajectory state survives exactly (every float bit, indices, flags, extra JSON)', () => {
    const adapter = trajectoryAdapter();
    const bytes = serializeNativeAdapter(adapter);
    const back = parseNativeAdapter(bytes, 'run.safetensors');
    expect(back.modules.size).toBe(10);
    expect(back).toEqual(adapter);
    expect(dashOf(back, 'model.layers.0.self_attn.v_proj')).toMatchObject({ selected: [25, 17, 23, 28] });
    // deterministic bytes: writing the parsed adapter again gives the same file
    expect(serializeNativeAdapter(back)).toEqual(bytes);
    // and the plain-LoRA part uses PEFT's names, bit-identical to the reference file
    const raw = parseSafetensors(bytes);
    const ref = load('final_lora_dash.safetensors');
    const key = peftKey('model.layers.3.self_attn.q_proj', 'lora_B');
    expect(raw.tensors.get(key)?.data).toEqual(ref.tensors.get(key)?.data);
    expect(JSON.parse(raw.metadata?.[NATIVE_METADATA_KEY] ?? '{}').format_version).toBe(4);
    // the spectra are F64: every rate of the reference launch comes back as the same double
    expect(raw.tensors.get(nativeKey('model.layers.0.self_attn.v_proj', 'dash_change_rates'))?.dtype).toBe('F64');
    const rates = dashOf(back, 'model.layers.0.self_attn.v_proj');
    expect(rates?.launched && Array.from(rates.changeRates ?? [])).toEqual(launch.modules['model.layers.0.self_attn.v_proj']?.change_rate);
  });

  test("an init residual keeps its selected directions, LoRA-Init's change rates (+Infinity included) and σ", () => {
    const A0 = { rows: 2, cols: 3, data: new Float32Array([1, 2, 3, 4, 5, 6]) };
    const B0 = { rows: 4, cols: 2, data: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) };
    const init = {
      A0,
      B0,
      scaling: 0.5,
      selected: Int32Array.from([2, 0]),
      // σ₂ = 0 with a non-zero projection gives rate +Infinity (core's changeRates convention)
      changeRates: Float64Array.from([0.1, 1 / 3, Number.POSITIVE_INFINITY]),
      sigma: Float64Array.from([3, Math.PI, 0]),
    };
    const adapter: NativeAdapter = {
      modules: new Map<string, ModuleRecord>([['model.layers.0.mlp.up_proj', { method: 'lora-init', ...loraRecord({ factors: { A: A0, B: B0, scaling: 0.5 }, init }) }]]),
    };
    const bytes = serializeNativeAdapter(adapter);
    const back = parseNativeAdapter(bytes);
    expect(back).toEqual(adapter);
    const record = back.modules.get('model.layers.0.mlp.up_proj') as ModuleRecord;
    expect(readInitResidual(record, { module: 'model.layers.0.mlp.up_proj' }, { rows: 4, cols: 3 })).toEqual(init);
    expect(serializeNativeAdapter(back)).toEqual(bytes);
  });

  test('version-1 files (written before the spectra existed) still read, with no spectra', () => {
    const m = 'model.layers.0.self_attn.q_proj';
    const A = float32Tensor([2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
    const B = float32Tensor([4, 2], new Float32Array(8).fill(0.25));
    const U = float32Tensor([4, 1], new Float32Array([1, 0, 0, 0]));
    const Vt = float32Tensor([1, 3], new Float32Array([0, 1, 0]));
    const d = float32Tensor([1], new Float32Array([0.5]));
    // exactly what the version-1 writer produced: no F64 tensors, no init.selected
    const v1 = serializeSafetensors(
      {
        [peftKey(m, 'lora_A')]: A,
        [peftKey(m, 'lora_B')]: B,
        [nativeKey(m, 'dash_U')]: U,
        [nativeKey(m, 'dash_Vt')]: Vt,
        [nativeKey(m, 'dash_d')]: d,
        [nativeKey(m, 'init_A0')]: A,
        [nativeKey(m, 'init_B0')]: B,
      },
      {
        [NATIVE_METADATA_KEY]: JSON.stringify({
          format_version: 1,
          modules: { [m]: { method: 'lora-tsd', scaling: 2, dash: { launched: true, selected: [1] }, init: { scaling: 2 } } },
        }),
      },
    );
    const record = parseNativeAdapter(v1, 'old.safetensors').modules.get(m) as ModuleRecord;
    expect(record.method).toBe('lora-tsd');
    const state = readLoraRecord(record, { module: m });
    expect(state.dash).toMatchObject({ launched: true, selected: [1] });
    expect(state.dash?.launched && state.dash.changeRates).toBeUndefined();
    expect(state.init?.scaling).toBe(2);
    expect(state.init?.selected).toBeUndefined();
    expect(state.init?.changeRates).toBeUndefined();
    // every value of the old file, bit for bit
    expect(record.tensors['dash_U']?.data).toEqual(new Float32Array([1, 0, 0, 0]));
    expect(record.tensors['init_B0']?.data).toEqual(new Float32Array(8).fill(0.25));
    // written again it becomes a format-4 file that holds the same record
    const v4 = serializeNativeAdapter({ modules: new Map([[m, record]]) });
    expect(JSON.parse(parseSafetensors(v4).metadata?.[NATIVE_METADATA_KEY] ?? '{}').format_version).toBe(4);
    expect(parseNativeAdapter(v4).modules.get(m)).toEqual(record);
  });

  test('format-3 DoRA files read with the magnitude under PEFT’s name; a wrong length is refused', () => {
    const module = 'model.layers.0.self_attn.q_proj';
    const A = float32Tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const B = float32Tensor([4, 2], Float32Array.from([0.5, -1, 2, 0.25, 1, 1, -3, 0]));
    const v3 = (magnitude: number[]) =>
      serializeSafetensors(
        { [peftKey(module, 'lora_A')]: A, [peftKey(module, 'lora_B')]: B, [`base_model.model.${module}.lora_magnitude_vector`]: float32Tensor([magnitude.length], Float32Array.from(magnitude)) },
        { [NATIVE_METADATA_KEY]: JSON.stringify({ format_version: 3, modules: { [module]: { method: 'dora', scaling: 2 } } }) },
      );
    const record = parseNativeAdapter(v3([1.5, 2.5, 0.1, 7])).modules.get(module);
    expect(record?.tensors['lora_magnitude_vector']?.data).toEqual(Float32Array.from([1.5, 2.5, 0.1, 7]));
    expect(record?.meta).toEqual({ scaling: 2 });
    expect(() => parseNativeAdapter(v3([1, 2, 3]))).toThrow(ShapeError);
  });

  test("format 4 keeps any variant's own tensors (F32 and F64) and meta, bit for bit", () => {
    const module = 'encoder.fc1';
    const record: ModuleRecord = {
      method: 'my-method',
      tensors: {
        ema: { shape: [2, 3], data: Float32Array.from([1, -0, Number.NaN, 1e-40, 3.5, -2]) },
        seen: { shape: [1], data: Float64Array.from([2 ** 53 - 1]) },
        empty: { shape: [0], data: new Float32Array(0) },
      },
      meta: { phase: 'warm', steps: [1, 2, 3], nested: { ok: true } },
    };
    const adapter: NativeAdapter = { modules: new Map([[module, record]]), baseModel: 'x', extra: { step: 3 } };
    const bytes = serializeNativeAdapter(adapter);
    const raw = parseSafetensors(bytes);
    expect(raw.tensors.get(nativeKey(module, 'seen'))?.dtype).toBe('F64');
    expect(JSON.parse(raw.metadata?.[NATIVE_METADATA_KEY] ?? '{}').modules).toEqual({ [module]: { method: 'my-method', tensors: ['ema', 'seen', 'empty'], meta: record.meta } });
    const back = parseNativeAdapter(bytes);
    expect(back).toEqual(adapter);
    // NaN and −0 too: compare the bytes
    const bytesOf = (v: Float32Array | Float64Array | undefined) => (v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    expect(bytesOf(back.modules.get(module)?.tensors.ema?.data)).toEqual(bytesOf(record.tensors.ema?.data));
    expect(serializeNativeAdapter(back)).toEqual(bytes);
    const bad: NativeAdapter = { modules: new Map([[module, { ...record, tensors: { ema: { shape: [4], data: new Float32Array(3) } } }]]) };
    expect(() => serializeNativeAdapter(bad)).toThrow(ShapeError);
  });

  test('pre-launch dash state, plain LoRA modules and non-dyadic scalings', () => {
    const A = { rows: 2, cols: 3, data: new Float32Array([1, 2, 3, 4, 5, 6]) };
    const B = { rows: 4, cols: 2, data: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) };
    const adapter: NativeAdapter = {
      modules: new Map<string, ModuleRecord>([
        ['model.layers.0.mlp.up_proj', { method: 'lora-dash', ...loraRecord({ factors: { A, B, scaling: 1 / 3 }, dash: { launched: false } }) }],
        ['model.layers.0.mlp.down_proj', { method: 'lora', ...loraFactorsRecord({ A, B, scaling: Math.SQRT2 }) }],
      ]),
    };
    expect(parseNativeAdapter(serializeNativeAdapter(adapter))).toEqual(adapter);
  });
});

describe('malformed native files', () => {
  const A = float32Tensor([2, 3], new Float32Array(6));
  const B = float32Tensor([4, 2], new Float32Array(8));
  const m = 'model.layers.0.mlp.up_proj';
  const meta = (modules: unknown, version = 1) => ({ [NATIVE_METADATA_KEY]: JSON.stringify({ format_version: version, modules }) });
  const base = { [peftKey(m, 'lora_A')]: A, [peftKey(m, 'lora_B')]: B };
  const fail = (bytes: Uint8Array) => {
    try {
      parseNativeAdapter(bytes, 'native.safetensors');
    } catch (e) {
      return e as Error & { file?: string; tensor?: string; field?: string };
    }
    throw new Error('expected a failure');
  };

  test('a plain PEFT file is not a native adapter', () => {
    const e = fail(serializeSafetensors(base, { format: 'pt' }));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.file).toBe('native.safetensors');
  });

  test('a newer format_version is refused', () => {
    expect(fail(serializeSafetensors(base, meta({ [m]: { method: 'lora', scaling: 1 } }, 5))).message).toMatch(/newer/);
  });

  test('spectra must be F64, one value per direction, and cover the selection', () => {
    const A0 = float32Tensor([2, 3], new Float32Array(6));
    const B0 = float32Tensor([4, 2], new Float32Array(8));
    const withInit = { ...base, [nativeKey(m, 'init_A0')]: A0, [nativeKey(m, 'init_B0')]: B0 };
    const f64 = (n: number) => ({ dtype: 'F64' as const, shape: [n], data: new Uint8Array(8 * n) });
    const initMeta = (selected: number[]) => meta({ [m]: { method: 'lora-init', scaling: 1, init: { scaling: 1, selected } } }, 2);
    const ok = parseNativeAdapter(serializeSafetensors({ ...withInit, [nativeKey(m, 'init_change_rates')]: f64(3) }, initMeta([2, 0])));
    expect(ok.modules.get(m)?.tensors['init_change_rates']?.data).toHaveLength(3);
    // min(out, in) = 3 directions: 4 rates is one too many
    const long = fail(serializeSafetensors({ ...withInit, [nativeKey(m, 'init_change_rates')]: f64(4) }, initMeta([2, 0])));
    expect(long).toBeInstanceOf(ShapeError);
    expect(long.tensor).toBe(nativeKey(m, 'init_change_rates'));
    // index 2 needs at least 3 rates
    expect(fail(serializeSafetensors({ ...withInit, [nativeKey(m, 'init_change_rates')]: f64(2) }, initMeta([2, 0])))).toBeInstanceOf(ShapeError);
    const mismatch = { ...withInit, [nativeKey(m, 'init_change_rates')]: f64(3), [nativeKey(m, 'init_sigma')]: f64(2) };
    expect(fail(serializeSafetensors(mismatch, initMeta([1, 0]))).tensor).toBe(nativeKey(m, 'init_sigma'));
    // r = 2 initial directions, not 3; and indices must be below min(out, in)
    expect(fail(serializeSafetensors(withInit, initMeta([0, 1, 2])))).toBeInstanceOf(ShapeError);
    expect(fail(serializeSafetensors(withInit, initMeta([0, 3])))).toBeInstanceOf(ShapeError);
    expect(fail(serializeSafetensors(withInit, meta({ [m]: { method: 'lora-init', scaling: 1, init: { scaling: 1, selected: 'x' } } }, 2))).field).toBe(`${m}.init.selected`);
    const f32Rates = fail(serializeSafetensors({ ...withInit, [nativeKey(m, 'init_change_rates')]: float32Tensor([3], new Float32Array(3)) }, initMeta([2, 0])));
    expect(f32Rates.message).toMatch(/F64/);
  });

  test('missing and stray tensors', () => {
    const missing = fail(serializeSafetensors({ [peftKey(m, 'lora_A')]: A }, meta({ [m]: { method: 'lora', scaling: 1 } })));
    expect(missing.tensor).toBe(peftKey(m, 'lora_B'));
    const stray = fail(serializeSafetensors({ ...base, extra: A }, meta({ [m]: { method: 'lora', scaling: 1 } })));
    expect(stray.tensor).toBe('extra');
    // format 4: a listed tensor the file lacks, a tensor no module lists, a malformed entry, an F16 tensor
    const v4 = (modules: unknown, tensors: Record<string, SafetensorsTensor> = base) => serializeSafetensors(tensors, meta(modules, 4));
    const entry = { method: 'lora', tensors: ['lora_A.weight', 'lora_B.weight'], meta: { scaling: 1 } };
    expect(parseNativeAdapter(v4({ [m]: entry })).modules.get(m)?.meta).toEqual({ scaling: 1 });
    expect(fail(v4({ [m]: { ...entry, tensors: ['lora_A.weight', 'lora_B.weight', 'x'] } })).tensor).toBe(nativeKey(m, 'x'));
    expect(fail(v4({ [m]: { ...entry, tensors: ['lora_A.weight'] } })).tensor).toBe(peftKey(m, 'lora_B'));
    expect(fail(v4({ [m]: { method: 'lora', tensors: [] } })).field).toBe(`${NATIVE_METADATA_KEY}.modules.${m}`);
    const f16 = { ...base, [peftKey(m, 'lora_A')]: { dtype: 'F16' as const, shape: [2, 3], data: new Uint8Array(12) } };
    expect(fail(v4({ [m]: entry }, f16)).message).toMatch(/F32 or F64, found F16/);
  });

  test('dash shapes and selection must agree with the factors', () => {
    const launched = { method: 'lora-dash', scaling: 1, dash: { launched: true, selected: [0, 1] } };
    const dash = (U: number[], Vt: number[], s: number) => ({
      ...base,
      [nativeKey(m, 'dash_U')]: float32Tensor(U, new Float32Array(U[0]! * U[1]!)),
      [nativeKey(m, 'dash_Vt')]: float32Tensor(Vt, new Float32Array(Vt[0]! * Vt[1]!)),
      [nativeKey(m, 'dash_d')]: float32Tensor([s], new Float32Array(s)),
    });
    expect(dashOf(parseNativeAdapter(serializeSafetensors(dash([4, 2], [2, 3], 2), meta({ [m]: launched }))), m)).toMatchObject({ launched: true });
    expect(fail(serializeSafetensors(dash([5, 2], [2, 3], 2), meta({ [m]: launched })))).toBeInstanceOf(ShapeError);
    expect(fail(serializeSafetensors(dash([4, 2], [2, 2], 2), meta({ [m]: launched })))).toBeInstanceOf(ShapeError);
    const wrongSel = { ...launched, dash: { launched: true, selected: [0, 1, 2] } };
    expect(fail(serializeSafetensors(dash([4, 2], [2, 3], 2), meta({ [m]: wrongSel })))).toBeInstanceOf(ShapeError);
  });

  test('non-F32 data and bad metadata JSON', () => {
    const half = { ...base, [peftKey(m, 'lora_A')]: { dtype: 'F16' as const, shape: [2, 3], data: new Uint8Array(12) } };
    expect(fail(serializeSafetensors(half, meta({ [m]: { method: 'lora', scaling: 1 } }))).message).toMatch(/F32/);
    expect(fail(serializeSafetensors(base, { [NATIVE_METADATA_KEY]: '{not json' }))).toBeInstanceOf(SafetensorsError);
    expect(fail(serializeSafetensors(base, meta({ [m]: { method: 7, scaling: 1 } })))).toBeInstanceOf(SafetensorsError);
  });
});
