import { readFileSync } from 'node:fs';
import { NonFiniteError, OnnxError, ShapeError, float16BitsToNumber, foldDashIntoLora, numberToFloat16Bits, parseSafetensors, tensorToFloat32, type DashTerm, type LoraFactors } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseOnnxModel } from './onnx-model.js';
import { maxAbsDiff, ort, referenceIds, referenceTensor, storiesLogits, storiesModelBytes } from './onnx-fixtures.test-helper.js';
import { withStoredAs, withTransposedWeights } from './onnx-variants.test-helper.js';
import { patchOnnxModel, type ModuleUpdate } from './patch.js';
import { concatBytes, encodeStringField } from './protobuf-wire.js';
import { rewriteForRuntimeAdapters } from './runtime-adapters.js';
import { applyEdits } from './splice.js';
import { readOnnxWeightsFromBytes } from './read-weights.js';

const Q0 = 'model.layers.0.self_attn.q_proj';

/** fround(W + s·B·A) with W [out, in], by a plain triple loop in float64 (independent of the patcher's code). */
function expectedMerged(W: Float32Array, f: LoraFactors): Float32Array {
  const out = f.B.rows;
  const inF = f.A.cols;
  const r = f.A.rows;
  const res = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += (f.B.data[o * r + k] as number) * (f.A.data[k * inF + i] as number);
      res[o * inF + i] = (W[o * inF + i] as number) + f.scaling * acc;
    }
  }
  return res;
}

/** Largest difference in float32 ulps of `want` (tolerates the last-bit rounding of different float64 summation orders). */
function maxUlps(got: Float32Array, want: Float32Array): number {
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const w = want[i] as number;
    const ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(w) || 2 ** -149)) - 23), 2 ** -149);
    m = Math.max(m, Math.abs((got[i] as number) - w) / ulp);
  }
  return m;
}

describe('patchOnnxModel with the PEFT fixtures', () => {
  const base = storiesModelBytes();
  let lora: Map<string, LoraFactors>;
  let rslora: Map<string, LoraFactors>;
  beforeAll(async () => {
    lora = readPeftAdapterFolder(fixturePath('reference', 'peft-lora')).modules;
    rslora = readPeftAdapterFolder(fixturePath('reference', 'peft-rslora')).modules;
  });

  it('merged weights equal fround(W + scaling·B·A) for all 35 modules (≤ 1 ulp)', () => {
    const result = patchOnnxModel(base, lora);
    expect(result.modules.length).toBe(35);
    expect(result.modules.every((m) => m.layout === 'in_out' && m.storage === 'raw_data' && m.dataType === 'FLOAT')).toBe(true);
    const before = readOnnxWeightsFromBytes(base);
    const after = readOnnxWeightsFromBytes(concatBytes(result.chunks));
    for (const [module, f] of lora) {
      const want = expectedMerged(before.get(`${module}.weight`)!.data, f);
      // One float32 rounding of a float64 sum; the two float64 sums may differ in their last bits.
      expect(maxUlps(after.get(`${module}.weight`)!.data, want), module).toBeLessThanOrEqual(1);
    }
  });

  it('changes only the payload bytes of the 35 patched initializers', () => {
    const result = patchOnnxModel(base, lora);
    const out = concatBytes(result.chunks);
    expect(out.length).toBe(base.length);
    const model = parseOnnxModel(base);
    const ranges = result.modules.map((m) => model.initializers.get(m.initializer)!.rawData!.field).map((f) => [f.valueStart, f.end] as const);
    let changedOutside = 0;
    let changedInside = 0;
    for (let i = 0; i < base.length; i++) {
      if (out[i] === base[i]) continue;
      if (ranges.some(([s, e]) => i >= s && i < e)) changedInside++;
      else changedOutside++;
    }
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(35 * 1000);
  });

  it('the patched graph gives PEFT merged logits within 2e-3 under onnxruntime (LoRA and rsLoRA)', async () => {
    // 2e-3: reference/README.md — these adapters push logits to magnitude 15–22 and amplify
    // fp32 rounding to ~1e-3 (PEFT's own merged vs unmerged differ by up to 9.2e-4).
    for (const [name, adapter] of [
      ['peft-lora', lora],
      ['peft-rslora', rslora],
    ] as const) {
      const session = await ort.InferenceSession.create(concatBytes(patchOnnxModel(base, adapter).chunks), { intraOpNumThreads: 1 });
      for (const input of ['input1', 'input2'] as const) {
        const got = await storiesLogits(session, referenceIds(input));
        const want = referenceTensor([name, 'logits.safetensors'], `merged.${input}`);
        expect(maxAbsDiff(got, want), `${name} ${input}`).toBeLessThan(2e-3);
      }
    }
  });

  it('an explicit Transpose in front of the MatMul is patched in [out, in] layout to the same weights', () => {
    const variant = withTransposedWeights(base, [Q0, 'model.layers.4.mlp.down_proj']);
    const result = patchOnnxModel(variant, lora);
    expect(result.modules.find((m) => m.module === Q0)?.layout).toBe('out_in');
    const a = readOnnxWeightsFromBytes(concatBytes(result.chunks));
    const b = readOnnxWeightsFromBytes(concatBytes(patchOnnxModel(base, lora).chunks));
    for (const [name, w] of b) expect(Buffer.from(a.get(name)!.data.buffer).equals(Buffer.from(w.data.buffer)), name).toBe(true);
  });

  it('float_data storage is patched in place like raw_data', () => {
    const result = patchOnnxModel(withStoredAs(base, Q0, 'float_data'), new Map([[Q0, lora.get(Q0)!]]));
    expect(result.modules[0]?.storage).toBe('float_data');
    const got = readOnnxWeightsFromBytes(concatBytes(result.chunks)).get(`${Q0}.weight`)!.data;
    const want = readOnnxWeightsFromBytes(concatBytes(patchOnnxModel(base, new Map([[Q0, lora.get(Q0)!]])).chunks)).get(`${Q0}.weight`)!.data;
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });

  it('fp16 weights stay fp16: each value is W16 + ΔW rounded once to the nearest half (raw_data and int32_data)', () => {
    const f = lora.get(Q0)!;
    for (const kind of ['fp16', 'fp16-int32'] as const) {
      const variant = withStoredAs(base, Q0, kind);
      const W16 = readOnnxWeightsFromBytes(variant).get(`${Q0}.weight`)!.data;
      const result = patchOnnxModel(variant, new Map([[Q0, f]]));
      expect(result.modules[0]?.dataType).toBe('FLOAT16');
      expect(result.modules[0]?.storage).toBe(kind === 'fp16' ? 'raw_data' : 'int32_data');
      const got = readOnnxWeightsFromBytes(concatBytes(result.chunks)).get(`${Q0}.weight`)!.data;
      const exact = expectedMerged(W16, { ...f, scaling: f.scaling });
      let mismatches = 0;
      for (let i = 0; i < got.length; i++) {
        const want = float16BitsToNumber(numberToFloat16Bits(exact[i] as number));
        if (got[i] !== want) mismatches++;
      }
      // Rounding straight from float64 vs via this test's float32 can differ only at exact half-way points.
      expect(mismatches, kind).toBeLessThanOrEqual(2);
    }
  });

  it('a LoRA-Dash update (factors + dash term) equals the folded plain LoRA and reproduces the torch LoRA-Dash logits', async () => {
    const file = fixturePath('reference', 'lora-dash-trajectory', 'final_lora_dash.safetensors');
    const st = parseSafetensors(new Uint8Array(readFileSync(file)), file);
    const get = (k: string): Float32Array => tensorToFloat32(st.tensors.get(k)!, k);
    const updates = new Map<string, ModuleUpdate>();
    const folded = new Map<string, LoraFactors>();
    for (let l = 0; l < 5; l++) {
      for (const p of ['q_proj', 'v_proj']) {
        const m = `model.layers.${l}.self_attn.${p}`;
        const key = (s: string): string => `base_model.model.${m}.${s}`;
        const out = p === 'q_proj' ? 64 : 32;
        const factors: LoraFactors = { A: { rows: 4, cols: 64, data: get(key('lora_A.weight')) }, B: { rows: out, cols: 4, data: get(key('lora_B.weight')) }, scaling: 2 };
        const dash: DashTerm = { U: { rows: out, cols: 4, data: get(key('dash_U')) }, Vt: { rows: 4, cols: 64, data: get(key('dash_Vh')) }, d: get(key('dash_d')) };
        updates.set(m, { factors, dash });
        folded.set(m, foldDashIntoLora(factors, dash, m));
      }
    }
    const direct = patchOnnxModel(base, updates);
    expect(direct.modules.every((m) => m.rank === 8)).toBe(true);
    const a = readOnnxWeightsFromBytes(concatBytes(direct.chunks));
    const b = readOnnxWeightsFromBytes(concatBytes(patchOnnxModel(base, folded).chunks));
    for (const m of updates.keys()) {
      // Folding rounds scaling·B and U·d to float32 once, so the two differ by a few ulps at most.
      expect(maxAbsDiff(a.get(`${m}.weight`)!.data, b.get(`${m}.weight`)!.data), m).toBeLessThan(1e-6);
    }
    const session = await ort.InferenceSession.create(concatBytes(direct.chunks), { intraOpNumThreads: 1 });
    for (const input of ['input1', 'input2'] as const) {
      const got = await storiesLogits(session, referenceIds(input));
      // 1e-4: the ONNX-vs-HF tolerance of reference/README.md; this adapter is mild (no amplification).
      expect(maxAbsDiff(got, referenceTensor(['lora-dash-trajectory', 'final_logits.safetensors'], `lora_dash.${input}`)), input).toBeLessThan(1e-4);
    }
  });

  it('scaling 0 reproduces the original bytes exactly; scaling overrides the adapter value', () => {
    expect(Buffer.from(concatBytes(patchOnnxModel(base, lora, { scaling: 0 }).chunks)).equals(Buffer.from(base))).toBe(true);
    const f = lora.get(Q0)!;
    const doubled = readOnnxWeightsFromBytes(concatBytes(patchOnnxModel(base, new Map([[Q0, f]]), { scaling: 2 * f.scaling }).chunks));
    const manual = readOnnxWeightsFromBytes(concatBytes(patchOnnxModel(base, new Map([[Q0, { ...f, scaling: 2 * f.scaling }]])).chunks));
    expect(Buffer.from(doubled.get(`${Q0}.weight`)!.data.buffer).equals(Buffer.from(manual.get(`${Q0}.weight`)!.data.buffer))).toBe(true);
  });

  it('unknown fields (in the model, the graph and the patched tensor) survive patching and the runtime rewrite', () => {
    // Field numbers 900+ are unused by onnx.proto; a reader must skip them and we must keep them.
    const model = parseOnnxModel(base);
    const t = model.initializers.get('onnx::MatMul_1479')!;
    const g = model.graph.field;
    const graphEnc = [{ lenStart: g.lenStart, valueStart: g.valueStart, end: g.end }];
    const tensorEnc = [...graphEnc, { lenStart: t.field.lenStart, valueStart: t.field.valueStart, end: t.field.end }];
    const marks = ['unknown-in-model', 'unknown-in-graph', 'unknown-in-tensor'].map((m) => encodeStringField(901, m));
    const withUnknown = concatBytes(
      applyEdits(base, [
        { start: 0, end: 0, bytes: marks[0]!, enclosing: [] },
        { start: g.valueStart, end: g.valueStart, bytes: marks[1]!, enclosing: graphEnc },
        { start: t.field.valueStart, end: t.field.valueStart, bytes: marks[2]!, enclosing: tensorEnc },
      ]),
    );
    const contains = (hay: Uint8Array, needle: Uint8Array): boolean => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
    const patched = concatBytes(patchOnnxModel(withUnknown, lora).chunks);
    const rewritten = concatBytes(rewriteForRuntimeAdapters(withUnknown, [Q0]).chunks);
    for (const out of [patched, rewritten]) {
      for (const m of marks) expect(contains(out, m)).toBe(true);
      expect(parseOnnxModel(out).initializers.get('onnx::MatMul_1479')?.dims).toEqual([64, 64]);
    }
    // Patching is length-preserving here, so the files line up byte for byte outside the payloads.
    expect(patched.length).toBe(withUnknown.length);
  });

  it('bad adapters and models throw typed errors naming the module, node or tensor', () => {
    const f = lora.get(Q0)!;
    expect(() => patchOnnxModel(base, new Map([['model.layers.9.self_attn.q_proj', f]]))).toThrow(/no MatMul node named \/model\/layers\.9\/self_attn\/q_proj\/MatMul/);
    // k_proj is [64 in, 32 out]; q_proj's B has 64 rows.
    expect(() => patchOnnxModel(base, new Map([['model.layers.0.self_attn.k_proj', f]]))).toThrow(ShapeError);
    expect(() => patchOnnxModel(base, new Map([['model.layers.0.self_attn.k_proj', f]]))).toThrow(/k_proj/);
    expect(() => patchOnnxModel(withStoredAs(base, Q0, 'int8'), new Map([[Q0, f]]))).toThrow(/quantized.*tensor onnx::MatMul_1479/);
    expect(() => patchOnnxModel(base, new Map())).toThrow(OnnxError);
    const huge: LoraFactors = { ...f, scaling: 1e40 };
    expect(() => patchOnnxModel(base, new Map([[Q0, huge]]))).toThrow(NonFiniteError);
    // QKᵀ MatMul has no weight: naming it is an error, not a silent no-op.
    expect(() => patchOnnxModel(base, new Map([['model.layers.0.self_attn', f]]))).toThrow(/not an initializer/);
  });
});
