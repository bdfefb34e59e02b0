import { OnnxError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import {
  WireType,
  concatBytes,
  encodeLenField,
  encodePackedVarints,
  encodeStringField,
  encodeVarint,
  encodeVarintField,
  readFields,
  readRepeatedVarints,
  readString,
  readVarint,
  varintToInt64,
} from './protobuf-wire.js';
import { applyEdits, chunksLength } from './splice.js';

const ctx = { what: 'test message', file: 'mem.onnx' };

describe('varints', () => {
  it('round-trips boundary values, including 64-bit and negative int64', () => {
    for (const v of [0n, 1n, 127n, 128n, 300n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
      const bytes = encodeVarint(v);
      const back = readVarint(bytes, 0, bytes.length, ctx);
      expect(back.value).toBe(v);
      expect(back.next).toBe(bytes.length);
    }
    // -1 as int64 is ten bytes of two's complement, as protobuf writes it.
    const minusOne = encodeVarint(-1n);
    expect(minusOne.length).toBe(10);
    expect(varintToInt64(readVarint(minusOne, 0, 10, ctx).value)).toBe(-1n);
  });

  it('encodes 300 as the spec example ac 02', () => {
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02]);
  });

  it('rejects truncated, over-long and overflowing varints with OnnxError', () => {
    expect(() => readVarint(Uint8Array.of(0x80, 0x80), 0, 2, ctx)).toThrow(OnnxError);
    expect(() => readVarint(new Uint8Array(11).fill(0x80), 0, 11, ctx)).toThrow(/longer than 10 bytes/);
    const overflow = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02);
    expect(() => readVarint(overflow, 0, overflow.length, ctx)).toThrow(/overflows 64 bits/);
    // The error names the file and the message being read.
    expect(() => readVarint(Uint8Array.of(0x80), 0, 1, ctx)).toThrow(/test message.*file mem\.onnx/);
  });
});

describe('readFields', () => {
  const msg = concatBytes([
    encodeVarintField(1, 150),
    encodeStringField(2, 'testing'),
    concatBytes([Uint8Array.of((3 << 3) | WireType.Fixed32), Uint8Array.of(0, 0, 0x80, 0x3f)]),
    concatBytes([Uint8Array.of((4 << 3) | WireType.Fixed64), new Uint8Array(8)]),
    encodePackedVarints(5, [1, 300, 2 ** 40]),
    encodeVarintField(5, 7),
  ]);

  it('locates every wire type and decodes values', () => {
    const f = readFields(msg, 0, msg.length, ctx);
    expect(f.map((x) => [x.field, x.wire])).toEqual([
      [1, 0],
      [2, 2],
      [3, 5],
      [4, 1],
      [5, 2],
      [5, 0],
    ]);
    expect(f[0]?.varint).toBe(150n);
    expect(readString(msg, f[1]!)).toBe('testing');
    expect(new DataView(msg.buffer, f[2]!.valueStart, 4).getFloat32(0, true)).toBe(1);
    // packed and unpacked repeated values of one field merge, as protobuf parsers do
    expect(
      readRepeatedVarints(
        msg,
        f.filter((x) => x.field === 5),
        ctx,
      ),
    ).toEqual([1n, 300n, 2n ** 40n, 7n]);
    expect(f[f.length - 1]?.end).toBe(msg.length);
  });

  it('throws OnnxError for group wire types, field 0 and lengths past the end', () => {
    expect(() => readFields(Uint8Array.of((1 << 3) | 3), 0, 1, ctx)).toThrow(/wire type 3/);
    expect(() => readFields(Uint8Array.of(0x02, 0x00), 0, 2, ctx)).toThrow(/field number 0/);
    expect(() => readFields(Uint8Array.of(0x12, 0x05, 0x61), 0, 3, ctx)).toThrow(/declares 5 bytes but only 1 remain/);
    expect(() => readFields(Uint8Array.of(0x1d, 0x00), 0, 2, ctx)).toThrow(/truncated fixed32/);
  });

  it('terminates on every truncation of a valid message, either parsing or throwing OnnxError', () => {
    for (let cut = 0; cut < msg.length; cut++) {
      try {
        readFields(msg, 0, cut, ctx);
      } catch (e) {
        expect(e).toBeInstanceOf(OnnxError);
      }
    }
  });
});

describe('applyEdits', () => {
  // outer { 1: inner { 2: "abc", 3: 7 }, 4: "tail" }, followed by an unknown top-level field 9.
  const inner = concatBytes([encodeStringField(2, 'abc'), encodeVarintField(3, 7)]);
  const outer = concatBytes([encodeLenField(1, inner), encodeStringField(4, 'tail')]);
  const file = concatBytes([encodeLenField(7, outer), encodeVarintField(9, 42)]);
  const top = readFields(file, 0, file.length, ctx);
  const o = top[0]!;
  const oFields = readFields(file, o.valueStart, o.end, ctx);
  const i = oFields[0]!;
  const iFields = readFields(file, i.valueStart, i.end, ctx);
  const s = iFields[0]!;
  const enclosing = [o, i].map((f) => ({ lenStart: f.lenStart, valueStart: f.valueStart, end: f.end }));

  function decode(bytes: Uint8Array): { text: string; tail: string; unknown: bigint | undefined } {
    const t = readFields(bytes, 0, bytes.length, ctx);
    const of = readFields(bytes, t[0]!.valueStart, t[0]!.end, ctx);
    const inn = readFields(bytes, of[0]!.valueStart, of[0]!.end, ctx);
    return { text: readString(bytes, inn[0]!), tail: readString(bytes, of[1]!), unknown: t[1]?.varint };
  }

  it('replaces a nested string with a longer one, fixing both length prefixes', () => {
    // 200 bytes forces the inner length varint from 1 to 2 bytes.
    const long = 'x'.repeat(200);
    const out = concatBytes(applyEdits(file, [{ start: s.start, end: s.end, bytes: encodeStringField(2, long), enclosing }]));
    expect(decode(out)).toEqual({ text: long, tail: 'tail', unknown: 42n });
  });

  it('keeps bytes outside the edit and its length prefixes identical, and returns views for them', () => {
    const chunks = applyEdits(file, [{ start: s.valueStart, end: s.end, bytes: new TextEncoder().encode('xyz'), enclosing }]);
    const out = concatBytes(chunks);
    expect(out.length).toBe(file.length);
    const diff = [...out].flatMap((b, k) => (b === file[k] ? [] : [k]));
    expect(diff.every((k) => k >= s.valueStart && k < s.end)).toBe(true);
    expect(chunks[0]?.buffer).toBe(file.buffer);
    expect(chunksLength(chunks)).toBe(out.length);
  });

  it('inserts at the end of a message and deletes a field', () => {
    const out = concatBytes(
      applyEdits(file, [
        { start: i.end, end: i.end, bytes: encodeVarintField(5, 1), enclosing },
        { start: iFields[1]!.start, end: iFields[1]!.end, bytes: new Uint8Array(0), enclosing },
      ]),
    );
    const t = readFields(out, 0, out.length, ctx);
    const of = readFields(out, t[0]!.valueStart, t[0]!.end, ctx);
    expect(readFields(out, of[0]!.valueStart, of[0]!.end, ctx).map((f) => f.field)).toEqual([2, 5]);
    expect(decode(out).tail).toBe('tail');
  });

  it('refuses overlapping edits and edits outside their enclosing field', () => {
    expect(() =>
      applyEdits(file, [
        { start: s.start, end: s.end, bytes: new Uint8Array(0), enclosing },
        { start: s.start + 1, end: s.end, bytes: new Uint8Array(0), enclosing },
      ]),
    ).toThrow(/overlapping/);
    expect(() => applyEdits(file, [{ start: 0, end: 1, bytes: new Uint8Array(0), enclosing }])).toThrow(/not inside/);
  });
});
