import { describe, expect, it, test } from 'vitest';
import {
  bfloat16BitsToNumber,
  decodeBfloat16,
  decodeFloat16,
  decodeFloat32,
  decodeFloat64,
  decodeInt64,
  dtypeByteSize,
  encodeBfloat16,
  encodeFloat16,
  encodeFloat32,
  encodeFloat64,
  encodeInt64,
  float16BitsToNumber,
  isSafetensorsDtype,
  numberToBfloat16Bits,
  numberToFloat16Bits,
  SAFETENSORS_DTYPES,
} from './dtype.js';
import { Rng } from './random.js';

const isNaNHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isNaNBf16 = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

describe('float16', () => {
  test('decodes the landmark values of IEEE 754 binary16', () => {
    expect(float16BitsToNumber(0x3c00)).toBe(1);
    expect(float16BitsToNumber(0xc000)).toBe(-2);
    expect(float16BitsToNumber(0x7bff)).toBe(65504); // largest finite half
    expect(float16BitsToNumber(0x0400)).toBe(2 ** -14); // smallest normal
    expect(float16BitsToNumber(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(float16BitsToNumber(0x3555)).toBe(0.333251953125);
    expect(float16BitsToNumber(0x7c00)).toBe(Infinity);
    expect(float16BitsToNumber(0xfc00)).toBe(-Infinity);
    expect(Object.is(float16BitsToNumber(0x8000), -0)).toBe(true);
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
  });

  test('every non-NaN half survives decode → encode, and decoding is strictly monotonic', () => {
    let prev = -Infinity;
    const bad: number[] = [];
    // walk the positive halves in bit order; their values must increase strictly
    for (let h = 0; h <= 0x7c00; h++) {
      const v = float16BitsToNumber(h);
      if (numberToFloat16Bits(v) !== h || numberToFloat16Bits(-v) !== (h | 0x8000) || (h > 0 && !(v > prev))) bad.push(h);
      prev = v;
    }
    for (let h = 0x7c01; h < 0x8000; h++) if (!(isNaNHalf(h) && Number.isNaN(float16BitsToNumber(h)))) bad.push(h);
    expect(bad).toEqual([]);
  });

  test('rounds to nearest, ties to even, at every midpoint between consecutive halves', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const lo = float16BitsToNumber(h);
      const hi = float16BitsToNumber(h + 1);
      const mid = (lo + hi) / 2; // exact in float64
      const eps = (hi - lo) / 1024; // a float64 offset far above float64 resolution, far below half an ulp of half
      if (numberToFloat16Bits(mid) !== (h % 2 === 0 ? h : h + 1)) bad.push(h);
      // just off the midpoint goes to the nearer side
      if (numberToFloat16Bits(mid - eps) !== h || numberToFloat16Bits(mid + eps) !== h + 1) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  test('overflow goes to infinity at the binary16 rounding boundary 65520; NaN stays NaN', () => {
    expect(numberToFloat16Bits(65519.99)).toBe(0x7bff);
    expect(numberToFloat16Bits(65520)).toBe(0x7c00);
    expect(numberToFloat16Bits(-1e9)).toBe(0xfc00);
    expect(isNaNHalf(numberToFloat16Bits(NaN))).toBe(true);
    expect(numberToFloat16Bits(2 ** -26)).toBe(0); // below half the smallest subnormal
  });

  test('array codecs agree with the scalar ones', () => {
    const values = new Float32Array([0, 1, -2, 0.1, 65504, 2 ** -24, -Infinity]);
    const decoded = decodeFloat16(encodeFloat16(values));
    for (let i = 0; i < values.length; i++) {
      expect(decoded[i]).toBe(float16BitsToNumber(numberToFloat16Bits(values[i] as number)));
    }
  });
});

describe('bfloat16', () => {
  test('every non-NaN bfloat16 survives decode → encode', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = bfloat16BitsToNumber(h);
      const ok = isNaNBf16(h) ? Number.isNaN(v) && isNaNBf16(numberToBfloat16Bits(v)) : numberToBfloat16Bits(v) === h;
      if (!ok) bad.push(h);
    }
    expect(bad).toEqual([]);
  });

  test('rounding matches an independent float64 nearest-even reference on random float32 values', () => {
    const rng = Rng.fromSeed(7);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const bad: number[] = [];
    for (let i = 0; i < 20000; i++) {
      u32[0] = rng.nextUint32();
      // force some exact ties: low 16 bits 0x8000
      if (i % 10 === 0) u32[0] = ((u32[0] as number) & 0xffff0000) | 0x8000;
      const x = f32[0] as number;
      if (!Number.isFinite(x)) continue;
      const down = (u32[0] as number) >>> 16;
      const a = bfloat16BitsToNumber(down);
      const next = bfloat16BitsToNumber(down + 1); // next away from zero
      // IEEE rounding treats overflow as if the next value were ±2^128
      const b = Number.isFinite(next) ? next : Math.sign(next) * 2 ** 128;
      const da = Math.abs(x - a);
      const db = Math.abs(x - b);
      const expected = da < db ? down : db < da ? down + 1 : down % 2 === 0 ? down : down + 1;
      if (numberToBfloat16Bits(x) !== (expected & 0xffff)) bad.push(x);
    }
    expect(bad).toEqual([]);
  });

  test('array codecs agree with the scalar ones', () => {
    const values = new Float32Array([0, 1, -2, 0.1, 3e38, -1e-40]);
    const decoded = decodeBfloat16(encodeBfloat16(values));
    for (let i = 0; i < values.length; i++) {
      expect(decoded[i]).toBe(bfloat16BitsToNumber(numberToBfloat16Bits(values[i] as number)));
    }
    // an unaligned view (read through a DataView) decodes like the aligned one (read as uint16s)
    const bytes = encodeBfloat16(values);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(decodeBfloat16(shifted.subarray(1))).toEqual(decoded);
  });
});

describe('f32 / f64 / i64 codecs', () => {
  test('round trip bit-exactly, also from unaligned views', () => {
    const f32 = new Float32Array([1.5, -0, Math.PI, 3.4028234663852886e38, 1e-45]);
    const bytes32 = encodeFloat32(f32);
    // little-endian encoding of 1.5f is 00 00 c0 3f
    expect([...bytes32.subarray(0, 4)]).toEqual([0x00, 0x00, 0xc0, 0x3f]);
    const shifted = new Uint8Array(bytes32.length + 1);
    shifted.set(bytes32, 1);
    expect(decodeFloat32(shifted.subarray(1))).toEqual(f32);
    const f64 = new Float64Array([Math.E, -1e-310, 2 ** 60]);
    expect(decodeFloat64(encodeFloat64(f64))).toEqual(f64);
    const i64 = new BigInt64Array([0n, -1n, 9007199254740993n, -(2n ** 63n)]);
    expect(decodeInt64(encodeInt64(i64))).toEqual(i64);
  });

  test('decoded arrays are copies, never aliases of the file bytes', () => {
    const bytes = encodeFloat32(new Float32Array([1, 2]));
    const decoded = decodeFloat32(bytes);
    decoded[0] = 42;
    expect(decodeFloat32(bytes)[0]).toBe(1);
  });
});

test('dtype table: sizes and the Rust enum order used for file layout', () => {
  expect(SAFETENSORS_DTYPES.indexOf('F32')).toBeLessThan(SAFETENSORS_DTYPES.indexOf('F64'));
  expect(SAFETENSORS_DTYPES.indexOf('BF16')).toBeLessThan(SAFETENSORS_DTYPES.indexOf('I32'));
  expect(dtypeByteSize('BF16')).toBe(2);
  expect(dtypeByteSize('I64')).toBe(8);
  expect(dtypeByteSize('BOOL')).toBe(1);
  expect(isSafetensorsDtype('F32')).toBe(true);
  expect(isSafetensorsDtype('toString')).toBe(false);
  expect(isSafetensorsDtype('F128')).toBe(false);
});

describe('Node Buffer inputs', () => {
  it('decodes from a Buffer view into pooled memory without reading past the view', () => {
    // Buffer.from(string) lands in Node's shared pool, so its ArrayBuffer is larger than the view.
    const pooled = Buffer.from('xx');
    const floats = new Float32Array([1.5, -2, 3.25]);
    const buffer = Buffer.concat([pooled, Buffer.from(floats.buffer)]).subarray(2);
    expect(buffer.buffer.byteLength).toBeGreaterThan(buffer.byteLength);
    expect(Array.from(decodeFloat32(buffer))).toEqual([1.5, -2, 3.25]);
    const doubles = new Float64Array([0.1, -7]);
    expect(Array.from(decodeFloat64(Buffer.from(doubles.buffer)))).toEqual([0.1, -7]);
  });
});
