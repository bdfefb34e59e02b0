import { describe, expect, it } from 'vitest';
import { ConfigError, NonFiniteError, ShapeError } from './errors.js';
import { Rng } from './random.js';
import { INT8_BLOCK_SIZE, decodeWeight, decodeWeightRows, encodeWeight, encodedWeightBytes, int8BlocksPerRow, validateEncodedWeight } from './weight-codes.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (bits: number) => {
  u32[0] = bits >>> 0;
  return f32[0] as number;
};
const rng = Rng.fromSeed(19);
const randomWeight = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rng.normal() * scale);

describe('encodeWeight / decodeWeight: bfloat16', () => {
  it('rounds to nearest with ties to even, on crafted float32 bit patterns', () => {
    // [input bits, expected bfloat16 bits]: below, at and above the halfway point, with an even and an odd kept part
    const cases: Array<[number, number]> = [
      [0x3f800000, 0x3f80], // 1 exactly
      [0x3f807fff, 0x3f80], // just below half an ulp: down
      [0x3f808000, 0x3f80], // tie, kept part even: stays
      [0x3f818000, 0x3f82], // tie, kept part odd: up to even
      [0x3f808001, 0x3f81], // just above half: up
      [0xbf818000, 0xbf82], // negative tie, odd: away to even
      [0x00000001, 0x0000], // smallest subnormal: rounds to +0
      [0x80000000, 0x8000], // −0 keeps its sign
      [0x7f7f7fff, 0x7f7f], // largest finite that stays finite
    ];
    const data = Float32Array.from(cases.map(([bits]) => fromBits(bits)));
    const w = encodeWeight(data, 1, cases.length, 'bfloat16');
    const codes = new DataView(w.codes.buffer);
    cases.forEach(([, want], i) => expect(codes.getUint16(2 * i, true), `case ${i}`).toBe(want));
    const decoded = new Uint32Array(decodeWeight(w).buffer);
    cases.forEach(([, want], i) => expect(decoded[i]).toBe((want << 16) >>> 0));
  });

  it('is exact on values that are already bfloat16, and within half a bfloat16 ulp otherwise', () => {
    const data = randomWeight(7 * 33); // odd column count: no padding needed
    const w = encodeWeight(data, 7, 33, 'bfloat16');
    expect(w.codes.byteLength).toBe(2 * 7 * 33);
    const decoded = decodeWeight(w);
    for (let i = 0; i < data.length; i++) {
      const x = data[i] as number;
      // a bfloat16 ulp at x is 2^(exponent − 7); round to nearest errs by at most half of it
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(x))) - 7);
      expect(Math.abs((decoded[i] as number) - x)).toBeLessThanOrEqual(ulp / 2);
    }
    expect(decodeWeight(encodeWeight(decoded, 7, 33, 'bfloat16'))).toEqual(decoded);
  });

  it('refuses NaN, ±Inf and values beyond bfloat16 range with a NonFiniteError naming the tensor and element', () => {
    for (const bad of [Number.NaN, Infinity, -Infinity, 3.4e38]) {
      const data = new Float32Array([0, 1, 2, bad]);
      expect(() => encodeWeight(data, 2, 2, 'bfloat16', 'q_proj')).toThrow(NonFiniteError);
      expect(() => encodeWeight(data, 2, 2, 'bfloat16', 'q_proj')).toThrow(/element \[1, 1\].*tensor q_proj/);
    }
  });
});

describe('encodeWeight / decodeWeight: blockwise int8', () => {
  it('errs by at most half a scale per element, with codes in [−127, 127] and one scale per (row, block)', () => {
    const [rows, cols] = [5, 3 * INT8_BLOCK_SIZE + 7]; // a short last block
    const data = randomWeight(rows * cols, 0.05);
    data[3] = 0.9; // an outlier only costs precision within its own block
    const w = encodeWeight(data, rows, cols, 'int8', 'up_proj');
    const blocks = int8BlocksPerRow(cols);
    expect(blocks).toBe(4);
    expect(w.scales?.length).toBe(rows * blocks);
    expect(encodedWeightBytes(w)).toBe(rows * cols + 4 * rows * blocks);
    const codes = new Int8Array(w.codes.buffer);
    const decoded = decodeWeight(w);
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        const i = row * cols + col;
        const scale = w.scales?.[row * blocks + Math.floor(col / INT8_BLOCK_SIZE)] as number;
        expect(Math.abs(codes[i] as number)).toBeLessThanOrEqual(127);
        // rounding to the nearest code errs by ≤ scale/2; the final fround of code·scale adds ≤ 2^-24 relative
        expect(Math.abs((decoded[i] as number) - (data[i] as number))).toBeLessThanOrEqual(scale / 2 + Math.abs(data[i] as number) * 2 ** -23);
        expect(decoded[i]).toBe(Math.fround((codes[i] as number) * scale));
      }
    }
    // each block's largest magnitude maps to ±127 (the scale is max|x| / 127)
    expect(Math.abs(codes[3] as number)).toBe(127);
    expect(w.scales?.[0]).toBe(Math.fround(Math.fround(0.9) / 127));
  });

  it('gives all-zero blocks scale 0 and codes 0, decoding to exact zeros', () => {
    const data = new Float32Array(2 * 64);
    data[64 + 40] = -3; // row 1, block 1
    const w = encodeWeight(data, 2, 64, 'int8');
    expect(Array.from(w.scales ?? [])).toEqual([0, 0, 0, Math.fround(3 / 127)]);
    const decoded = decodeWeight(w);
    expect(decoded[64 + 40]).toBe(Math.fround(-127 * Math.fround(3 / 127)));
    expect(decoded.filter((v, i) => i !== 64 + 40 && v !== 0).length).toBe(0);
  });

  it('rounds codes half to even', () => {
    // max 127 gives scale 1: 2.5 → 2, 3.5 → 4, −2.5 → −2
    const w = encodeWeight(new Float32Array([127, 2.5, 3.5, -2.5]), 1, 4, 'int8');
    expect(Array.from(new Int8Array(w.codes.buffer))).toEqual([127, 2, 4, -2]);
  });

  it('refuses NaN and ±Inf with a NonFiniteError', () => {
    expect(() => encodeWeight(new Float32Array([1, Number.NaN]), 1, 2, 'int8', 'w')).toThrow(NonFiniteError);
    expect(() => encodeWeight(new Float32Array([1, -Infinity]), 1, 2, 'int8', 'w')).toThrow(/element \[0, 1\] is -Infinity.*tensor w/);
  });
});

describe('shape and dtype errors', () => {
  it('names the tensor on a length mismatch, bad dimensions or an unknown dtype', () => {
    expect(() => encodeWeight(new Float32Array(5), 2, 3, 'int8', 'k_proj')).toThrow(ShapeError);
    expect(() => encodeWeight(new Float32Array(5), 2, 3, 'int8', 'k_proj')).toThrow(/k_proj/);
    expect(() => encodeWeight(new Float32Array(0), -1, 0, 'int8')).toThrow(ShapeError);
    expect(() => encodeWeight(new Float32Array(4), 2, 2, 'float16' as 'int8', 'v_proj')).toThrow(ConfigError);
  });

  it('validates encoded weights before decoding them', () => {
    const w = encodeWeight(randomWeight(2 * 40), 2, 40, 'int8');
    expect(() => validateEncodedWeight({ ...w, blockSize: 24 }, 'o')).toThrow(ConfigError);
    expect(() => validateEncodedWeight({ ...w, scales: new Float32Array(3) }, 'o')).toThrow(ShapeError);
    expect(() => decodeWeight({ ...w, codes: w.codes.subarray(1) }, 'o')).toThrow(/tensor o/);
  });
});

describe('decodeWeightRows', () => {
  it('equals the matching rows of decodeWeight for both dtypes, and refuses rows out of range', () => {
    const data = randomWeight(9 * 70);
    for (const dtype of ['bfloat16', 'int8'] as const) {
      const w = encodeWeight(data, 9, 70, dtype);
      const all = decodeWeight(w);
      const ids = [8, 0, 3, 3];
      const rows = decodeWeightRows(w, ids);
      ids.forEach((row, r) => expect(rows.subarray(r * 70, (r + 1) * 70)).toEqual(all.subarray(row * 70, (row + 1) * 70)));
      expect(() => decodeWeightRows(w, [9], 'embed_tokens')).toThrow(/row 9 is outside \[0, 9\).*embed_tokens/);
      // codes at an odd byte offset (read byte by byte) and an output array given by the caller
      const shifted = new Uint8Array(w.codes.byteLength + 1);
      shifted.set(w.codes, 1);
      const out = new Float32Array(ids.length * 70);
      expect(decodeWeightRows({ ...w, codes: shifted.subarray(1) }, ids, 'w', out)).toBe(out);
      expect(out).toEqual(rows);
      expect(() => decodeWeightRows(w, ids, 'w', new Float32Array(3))).toThrow(ShapeError);
    }
  });
});

describe('int8 with per-block zero points (an asymmetric uint8 file kept as c − 128, zp − 128)', () => {
  // rows 2, cols 5, blocks of 4 → 2 blocks per row; uint8 codes c and zero points zp as a q8 file stores them
  const c = [0, 255, 128, 127, 1, 200, 3, 77, 254, 129];
  const zp = [128, 133, 99, 152];
  const scales = Float32Array.from([0.1, 0.0123, 3.3e-3, 7.77]);
  const w = {
    dtype: 'int8' as const,
    rows: 2,
    cols: 5,
    codes: Uint8Array.from(c, (x) => (x - 128) & 0xff),
    scales,
    blockSize: 4,
    zeroPoints: Int8Array.from(zp, (z) => z - 128),
  };

  it('decodes as fround((c − zp) · scale), c − zp up to ±255', () => {
    const want = c.map((x, i) => {
      const [row, col] = [Math.floor(i / 5), i % 5];
      const block = row * 2 + (col >> 2);
      return Math.fround((x - (zp[block] as number)) * (scales[block] as number));
    });
    expect(Array.from(decodeWeight(w))).toEqual(want);
    expect(want[1]).toBe(Math.fround(127 * 0.1)); // 255 − 128
    expect(Array.from(decodeWeightRows(w, [1, 0]))).toEqual([...want.slice(5), ...want.slice(0, 5)]);
    expect(encodedWeightBytes(w)).toBe(10 + 16 + 4);
  });

  it('a wrong zero-point count, or zero points on bfloat16, is refused naming the tensor', () => {
    expect(() => validateEncodedWeight({ ...w, zeroPoints: new Int8Array(3) }, 'q_proj')).toThrow(ShapeError);
    expect(() => validateEncodedWeight({ ...w, zeroPoints: new Int8Array(3) }, 'q_proj')).toThrow(/expected 4 int8 zero points.*q_proj/);
    const bf16 = encodeWeight(new Float32Array(4), 2, 2, 'bfloat16');
    expect(() => validateEncodedWeight({ ...bf16, zeroPoints: new Int8Array(1) }, 'q_proj')).toThrow(ConfigError);
  });
});

describe('4-bit int8 codes (bits: 4, two signed nibbles per byte)', () => {
  // rows 3, cols 3: 9 codes in 5 bytes, row 1 starts in the high nibble of byte 1
  const codes = Uint8Array.from([0x9a, 0x07, 0xf8, 0x21, 0x0e]);
  const w = { dtype: 'int8' as const, rows: 3, cols: 3, codes, scales: Float32Array.from([0.5, 0.25, 2]), blockSize: 4, bits: 4 as const };

  it('decodes element i from byte i >> 1 (even i in the low nibble), sign-extended, times its scale', () => {
    // nibbles in element order: a 9 | 7 0 | 8 f | 1 2 | e  →  −6 −7 7 | 0 −8 −1 | 1 2 −2
    expect(Array.from(decodeWeight(w))).toEqual([-3, -3.5, 3.5, 0, -2, -0.25, 2, 4, -4]);
    expect(Array.from(decodeWeightRows(w, [2, 1]))).toEqual([2, 4, -4, 0, -2, -0.25]);
    expect(encodedWeightBytes(w)).toBe(5 + 12);
  });

  it('a wrong code length or bits on bfloat16 is refused naming the tensor', () => {
    expect(() => validateEncodedWeight({ ...w, codes: new Uint8Array(4) }, 'q_proj')).toThrow(/expected 5 bytes of 4-bit int8 codes, got 4.*q_proj/);
    const bf16 = encodeWeight(new Float32Array(4), 2, 2, 'bfloat16');
    expect(() => validateEncodedWeight({ ...bf16, bits: 4 }, 'q_proj')).toThrow(ConfigError);
  });
});
