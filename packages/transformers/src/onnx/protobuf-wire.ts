/**
 * A minimal protobuf wire-format layer (https://protobuf.dev/programming-guides/encoding/):
 * varints, length-delimited fields, fixed32/fixed64. It walks the fields of one
 * message without a schema and records where every byte lies, so that callers
 * can replace or insert bytes for one field and re-encode only the length
 * prefixes of the messages that enclose it (see `splice.ts`).
 *
 * Why not protobufjs (present transitively through onnxruntime-web): decoding
 * and re-encoding a whole ModelProto would drop or reorder unknown fields and
 * copy hundreds of MB of weights; a byte-range walker keeps every untouched byte
 * as it was and needs no dependency.
 */
import { OnnxError, type ErrorLocation, type TsdError } from '@tsd-peft/core';

/** Protobuf wire types we read. Groups (3, 4) are deprecated and never used by ONNX. */
export const WireType = { Varint: 0, Fixed64: 1, Len: 2, Fixed32: 5 } as const;
/** One of {@link WireType}'s values. */
export type WireTypeValue = (typeof WireType)[keyof typeof WireType];

/** One field of a message, located by byte offsets into the buffer it was read from. */
export interface WireField {
  /** Field number from the tag. */
  readonly field: number;
  readonly wire: WireTypeValue;
  /** Offset of the tag's first byte. */
  readonly start: number;
  /** Offset of the length varint (Len fields) or of the value (others). */
  readonly lenStart: number;
  /** Offset of the value's first byte (after the length for Len fields). */
  readonly valueStart: number;
  /** Offset one past the field's last byte. */
  readonly end: number;
  /** Decoded value of a Varint field (as an unsigned 64-bit integer). */
  readonly varint?: bigint;
}

/** A byte range [start, end) of a buffer, with an optional context for errors. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Where a read happens: the file name (for error messages), a path of message
 * names, and the error class to throw (default {@link OnnxError}; other
 * protobuf formats, such as SentencePiece models, pass their own).
 */
export interface WireContext {
  readonly file?: string;
  readonly what: string;
  readonly error?: (message: string, location: ErrorLocation) => TsdError;
}

function fail(message: string, ctx: WireContext, offset: number): never {
  const location = ctx.file === undefined ? {} : { file: ctx.file };
  const text = `${message} at byte ${offset} in ${ctx.what}`;
  throw ctx.error === undefined ? new OnnxError(text, location) : ctx.error(text, location);
}

/**
 * Reads a varint starting at `pos` (not beyond `end`). Returns the unsigned
 * 64-bit value and the offset after it. At most 10 bytes are read, so forged
 * input can never make this loop long; a truncated or over-long varint throws
 * {@link OnnxError}.
 */
export function readVarint(buf: Uint8Array, pos: number, end: number, ctx: WireContext): { value: bigint; next: number } {
  // Fast path: up to 4 bytes fit a 28-bit number without BigInt.
  let small = 0;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) fail('truncated varint', ctx, pos);
    const b = buf[pos + i] as number;
    small |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) === 0) return { value: BigInt(small >>> 0), next: pos + i + 1 };
  }
  let value = BigInt(small >>> 0);
  for (let i = 4; i < 10; i++) {
    if (pos + i >= end) fail('truncated varint', ctx, pos);
    const b = buf[pos + i] as number;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) {
      if (i === 9 && b > 1) fail('varint overflows 64 bits', ctx, pos);
      return { value, next: pos + i + 1 };
    }
  }
  return fail('varint longer than 10 bytes', ctx, pos);
}

/** Converts an unsigned varint to a safe non-negative JS number, or throws naming `what`. */
export function varintToNumber(value: bigint, ctx: WireContext, offset: number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`value ${value} is too large`, ctx, offset);
  return Number(value);
}

/** Interprets an unsigned 64-bit varint as the signed int64 protobuf encodes (two's complement). */
export function varintToInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

/**
 * Lists the fields of the message occupying `buf[start, end)`, in file order.
 * Every step advances by at least one byte, so the walk always terminates;
 * malformed input (bad tag, unsupported wire type, a length past the end)
 * throws {@link OnnxError} naming `ctx`.
 */
export function readFields(buf: Uint8Array, start: number, end: number, ctx: WireContext): WireField[] {
  if (start < 0 || end > buf.length || start > end) fail(`message range [${start}, ${end}) outside the buffer`, ctx, start);
  const fields: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const tag = readVarint(buf, pos, end, ctx);
    if (tag.value > 0xffffffffn) fail('tag out of range', ctx, tagStart);
    const t = Number(tag.value);
    const field = Math.floor(t / 8);
    const wire = t & 7;
    if (field === 0) fail('field number 0', ctx, tagStart);
    pos = tag.next;
    switch (wire) {
      case WireType.Varint: {
        const v = readVarint(buf, pos, end, ctx);
        fields.push({ field, wire, start: tagStart, lenStart: pos, valueStart: pos, end: v.next, varint: v.value });
        pos = v.next;
        break;
      }
      case WireType.Fixed64:
      case WireType.Fixed32: {
        const size = wire === WireType.Fixed64 ? 8 : 4;
        if (pos + size > end) fail(`truncated fixed${size * 8} value of field ${field}`, ctx, pos);
        fields.push({ field, wire, start: tagStart, lenStart: pos, valueStart: pos, end: pos + size });
        pos += size;
        break;
      }
      case WireType.Len: {
        const len = readVarint(buf, pos, end, ctx);
        if (len.value > BigInt(end - len.next)) {
          fail(`field ${field} declares ${len.value} bytes but only ${end - len.next} remain`, ctx, tagStart);
        }
        const valueEnd = len.next + Number(len.value);
        fields.push({ field, wire, start: tagStart, lenStart: pos, valueStart: len.next, end: valueEnd });
        pos = valueEnd;
        break;
      }
      default:
        fail(`unsupported wire type ${wire} for field ${field}`, ctx, tagStart);
    }
  }
  return fields;
}

/**
 * Decodes the values of a repeated integer field that may be packed (one Len
 * field) or unpacked (one Varint field per value), or a mix, as protobuf allows.
 */
export function readRepeatedVarints(buf: Uint8Array, fields: readonly WireField[], ctx: WireContext): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.wire === WireType.Varint) {
      out.push(f.varint as bigint);
    } else if (f.wire === WireType.Len) {
      let pos = f.valueStart;
      while (pos < f.end) {
        const v = readVarint(buf, pos, f.end, ctx);
        out.push(v.value);
        pos = v.next;
      }
    } else {
      fail(`field ${f.field} has wire type ${f.wire}, expected a varint or packed varints`, ctx, f.start);
    }
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** The UTF-8 text of a Len field. */
export function readString(buf: Uint8Array, f: WireField): string {
  return utf8.decode(buf.subarray(f.valueStart, f.end));
}

/** Encodes an unsigned integer (number or bigint, < 2^64) as a varint. */
export function encodeVarint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Encodes a field tag. */
export function encodeTag(field: number, wire: WireTypeValue): Uint8Array {
  return encodeVarint(field * 8 + wire);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A complete Len field: tag, length, payload. */
export function encodeLenField(field: number, payload: Uint8Array): Uint8Array {
  return concatBytes([encodeTag(field, WireType.Len), encodeVarint(payload.length), payload]);
}

/** A complete string field (UTF-8). */
export function encodeStringField(field: number, text: string): Uint8Array {
  return encodeLenField(field, utf8Encoder.encode(text));
}

/** A complete Varint field (negative int64 values are written in two's complement, 10 bytes). */
export function encodeVarintField(field: number, value: number | bigint): Uint8Array {
  return concatBytes([encodeTag(field, WireType.Varint), encodeVarint(value)]);
}

/** A packed repeated varint field (e.g. TensorProto.dims). */
export function encodePackedVarints(field: number, values: readonly (number | bigint)[]): Uint8Array {
  return encodeLenField(field, concatBytes(values.map((v) => encodeVarint(v))));
}
