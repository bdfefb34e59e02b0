import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { SafetensorsError, ShapeError } from './errors.js';
import { encodeFloat16, encodeFloat64, encodeInt64 } from './dtype.js';
import { fixturePath } from './testing/fixtures.js';
import { Rng } from './random.js';
import { float32Tensor, parseSafetensors, serializeSafetensors, tensorToFloat32, type SafetensorsTensor } from './safetensors.js';

const readFixture = (...parts: string[]) => new Uint8Array(readFileSync(fixturePath(...parts)));

/** A file with an arbitrary header text and `dataLength` data bytes, for forging corrupt input. */
function forge(header: string | object, dataLength = 0, declaredLength?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? text.length), true);
  out.set(text, 8);
  return out;
}

const f32 = (shape: number[], begin: number) => ({ dtype: 'F32', shape, data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)] });

describe('fixtures written by the Python safetensors library', () => {
  const files = [
    ['peft-lora', 'adapter_model.safetensors'],
    ['peft-rslora', 'adapter_model.safetensors'],
    ['hf', 'stories260K', 'model.safetensors'],
    ['lora-dash-trajectory', 'init_lora.safetensors'],
    ['lora-dash-trajectory', 'launch_state.safetensors'],
    ['lora-dash-trajectory', 'final_lora.safetensors'],
    ['lora-dash-trajectory', 'final_lora_dash.safetensors'],
    ['lora-dash-trajectory', 'final_logits.safetensors'],
  ];
  test.each(files)('%s/%s reads and writes back byte-identical', (...parts) => {
    const bytes = readFixture('reference', ...parts);
    const file = parseSafetensors(bytes, parts.join('/'));
    const again = serializeSafetensors(file.tensors, file.metadata, { metadataKeyOrder: file.metadataKeyOrder });
    expect(again.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  test('model.safetensors decodes to the values numpy reads', () => {
    const bytes = readFixture('reference', 'hf', 'stories260K', 'model.safetensors');
    const file = parseSafetensors(bytes);
    expect(file.tensors.size).toBe(47);
    expect(file.metadata).toEqual({ format: 'pt' });
    const embed = file.tensors.get('model.embed_tokens.weight') as SafetensorsTensor;
    expect(embed.shape).toEqual([512, 64]);
    expect(embed.data.buffer).toBe(bytes.buffer); // a view into the file, not a copy
    const values = tensorToFloat32(embed);
    // numpy: e[0,:3], e[511,63] and the float64 sum of all elements
    expect([values[0], values[1], values[2]]).toEqual([-0.29474878311157227, 0.5618956089019775, 0.1754225343465805]);
    expect(values[511 * 64 + 63]).toBe(-0.424032598733902);
    // the sum of 32768 float32s accumulated in float64: only summation order differs from numpy (≈1e-12)
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(-752.3677446640068, 9);
  });

  test('metadata keys keep their file order (init_lora writes "B" before "A")', () => {
    const file = parseSafetensors(readFixture('reference', 'lora-dash-trajectory', 'init_lora.safetensors'));
    expect(file.metadataKeyOrder).toEqual(['B', 'A']);
    expect(file.headerKeyOrder[0]).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  });
});

describe('serializeSafetensors matches the reference library layout', () => {
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  const expectFile = (out: Uint8Array, header: string, n: number) => {
    expect(Number(new DataView(out.buffer).getBigUint64(0, true))).toBe(n);
    expect(new TextDecoder().decode(out.subarray(8, 8 + n))).toBe(header.padEnd(n, ' '));
  };

  // The four cases below are the byte vectors of the Rust crate's own serialization tests.
  test('one F32 tensor, header already a multiple of 8', () => {
    const out = serializeSafetensors({ 'attn.0': float32Tensor([1, 2, 3], data) });
    expectFile(out, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', 64);
    expect([...out.subarray(72 + 4, 72 + 8)]).toEqual([0, 0, 128, 63]); // 1.0f little-endian
    expect(out.byteLength).toBe(8 + 64 + 24);
  });

  test('header padded with spaces to a multiple of 8', () => {
    const out = serializeSafetensors(new Map([['attn0', float32Tensor([1, 1, 2, 3], data)]]));
    expectFile(out, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}', 72);
  });

  test('no tensors, with and without metadata', () => {
    expectFile(serializeSafetensors({}), '{}', 8);
    expectFile(serializeSafetensors({}, { framework: 'pt' }), '{"__metadata__":{"framework":"pt"}}', 40);
    expect(parseSafetensors(serializeSafetensors({})).metadata).toBeUndefined();
    expect(parseSafetensors(serializeSafetensors({}, {})).metadata).toEqual({});
  });

  test('tensors ordered by descending dtype alignment, then name; every tensor aligned', () => {
    const t = (dtype: SafetensorsTensor['dtype'], bytes: Uint8Array, shape: number[]): SafetensorsTensor => ({ dtype, shape, data: bytes });
    const out = serializeSafetensors({
      a: t('BOOL', new Uint8Array([1, 0, 1]), [3]),
      b: t('F64', encodeFloat64(new Float64Array([1.5])), [1]),
      f: float32Tensor([1], new Float32Array([2])),
      c: float32Tensor([2], new Float32Array([3, 4])),
      d: t('I64', encodeInt64(new BigInt64Array([-7n])), [1]),
      e: t('BF16', new Uint8Array([0x80, 0x3f]), [1]),
      h: t('F16', encodeFloat16([1, 2, 3]), [3]),
    });
    const file = parseSafetensors(out);
    expect(file.headerKeyOrder).toEqual(['d', 'b', 'c', 'f', 'e', 'h', 'a']);
    for (const tensor of file.tensors.values()) {
      const offset = tensor.data.byteOffset;
      expect(offset % (tensor.dtype === 'BOOL' ? 1 : tensor.data.byteLength / tensor.shape.reduce((x, y) => x * y, 1))).toBe(0);
    }
    expect([...tensorToFloat32(file.tensors.get('h') as SafetensorsTensor)]).toEqual([1, 2, 3]);
    expect([...tensorToFloat32(file.tensors.get('e') as SafetensorsTensor)]).toEqual([1]);
    expect([...tensorToFloat32(file.tensors.get('b') as SafetensorsTensor)]).toEqual([1.5]);
  });

  test('integer-like metadata keys keep their order through metadataKeyOrder', () => {
    const out = serializeSafetensors({}, { z: '1', '2': 'b', '1': 'a' }, { metadataKeyOrder: ['z', '2', '1'] });
    const file = parseSafetensors(out);
    expect(file.metadataKeyOrder).toEqual(['z', '2', '1']);
    expect(serializeSafetensors(file.tensors, file.metadata, { metadataKeyOrder: file.metadataKeyOrder })).toEqual(out);
  });

  test('refuses inconsistent input with typed errors', () => {
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } })).toThrow(SafetensorsError);
    expect(() => serializeSafetensors({ __metadata__: float32Tensor([1], new Float32Array(1)) })).toThrow(SafetensorsError);
    expect(() => serializeSafetensors({}, { a: 'x' }, { metadataKeyOrder: ['b'] })).toThrow(SafetensorsError);
    expect(() => float32Tensor([2, 2], new Float32Array(3))).toThrow(ShapeError);
  });

  test('tensorToFloat32 refuses integer dtypes, naming the tensor', () => {
    const t: SafetensorsTensor = { dtype: 'I64', shape: [1], data: encodeInt64(new BigInt64Array([1n])) };
    expect(() => tensorToFloat32(t, 'ids')).toThrow(/I64.*tensor ids/);
  });
});

describe('corrupt files throw SafetensorsError naming the file', () => {
  const valid = { a: f32([2], 0), b: f32([1], 8) };
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /shorter than the 8-byte/],
    ['header length beyond EOF', forge(valid, 12, 10_000), /runs past the end/],
    ['header length above the 100 MB limit', forge(valid, 12, 2 ** 40), /exceeds/],
    ['header length with the top bit set', forge(valid, 12, Number.MAX_SAFE_INTEGER), /exceeds/],
    ['header not starting with {', forge(' {}'), /does not start/],
    ['bad JSON', forge('{"a": {"dtype": "F32",}}'), /not valid JSON/],
    ['unknown dtype', forge({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16), /unknown or unsupported dtype.*tensor a/],
    ['shape not integers', forge({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /shape/],
    ['negative shape', forge({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape/],
    ['offsets out of range', forge({ a: f32([4], 0) }, 8), /out of range/],
    ['offsets reversed', forge({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8), /out of range/],
    ['offsets not a pair', forge({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets/],
    ['overlapping tensors', forge({ a: f32([2], 0), b: f32([2], 4) }, 12), /overlap/],
    ['hole between tensors', forge({ a: f32([1], 0), b: f32([1], 8) }, 12), /hole/],
    ['trailing bytes', forge({ a: f32([1], 0) }, 8), /hole/],
    ['numel mismatch', forge({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12/],
    ['huge forged shape', forge({ a: { dtype: 'F32', shape: [2 ** 53 - 1, 2 ** 53 - 1, 2 ** 53 - 1], data_offsets: [0, 8] } }, 8), /needs more than 8/],
    ['huge number of huge dims', forge({ a: { dtype: 'F32', shape: Array(50_000).fill(1e15), data_offsets: [0, 8] } }, 8), /needs more/],
    ['duplicate tensor names', forge('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), /duplicate/],
    ['metadata value not a string', forge({ __metadata__: { format: 1 } }), /not a string/],
    ['entry not an object', forge({ a: [1] }), /not an object/],
    ['deeply nested header', forge(`{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`), /nesting/],
  ];
  test.each(cases)('%s', (_, bytes, message) => {
    let error: unknown;
    try {
      parseSafetensors(bytes, 'forged.safetensors');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).file).toBe('forged.safetensors');
    expect((error as Error).message).toMatch(message);
  });

  test('invalid UTF-8 bytes in the header', () => {
    const bytes = forge('{"ab":1}');
    bytes[10] = 0xff;
    expect(() => parseSafetensors(bytes, 'x')).toThrow(/UTF-8/);
  });

  test('a truncated real file', () => {
    const bytes = readFixture('reference', 'peft-lora', 'adapter_model.safetensors');
    for (const cut of [4, 100, 8700, bytes.byteLength - 1]) {
      expect(() => parseSafetensors(bytes.subarray(0, cut), 'cut')).toThrow(SafetensorsError);
    }
  });

  test('fuzz: 500 seeded mutations either parse or throw SafetensorsError, never anything else', () => {
    const base = serializeSafetensors(
      {
        w: float32Tensor([2, 3], new Float32Array([1, 2, 3, 4, 5, 6])),
        h: { dtype: 'F16', shape: [2], data: encodeFloat16([1, -1]) },
        ids: { dtype: 'I64', shape: [1], data: encodeInt64(new BigInt64Array([5n])) },
      },
      { format: 'pt' },
    );
    const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
    const rng = Rng.fromSeed(20240611);
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 500; i++) {
      let bytes = base.slice();
      const edits = 1 + rng.nextInt(4);
      for (let k = 0; k < edits; k++) {
        // mostly hit the length field and the header, where parsing decisions are made
        const pos = rng.nextFloat() < 0.9 ? rng.nextInt(headerEnd) : rng.nextInt(bytes.length);
        const choice = rng.nextInt(3);
        if (choice === 0) bytes[pos] = rng.nextInt(256);
        else if (choice === 1) bytes[pos] = '0123456789{}[]",:-.e '.charCodeAt(rng.nextInt(21));
        else bytes = bytes.subarray(0, Math.max(0, bytes.length - 1 - rng.nextInt(16)));
      }
      try {
        const file = parseSafetensors(bytes, 'fuzz');
        for (const [name, t] of file.tensors) if (t.dtype.startsWith('F')) tensorToFloat32(t, name);
        parsed++;
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw e;
        refused++;
      }
    }
    expect(parsed + refused).toBe(500);
    expect(refused).toBeGreaterThan(100); // the mutations really do break files
    expect(parsed).toBeGreaterThan(0); // and some survive (e.g. edits inside the data or shape digits that still fit)
  });
});
