import { ConfigError } from '@tsd-peft/core';

/** One field of a protobuf message as read off the wire. */
export type ProtoField =
  | { field: number; wire: 0; value: bigint }
  | { field: number; wire: 1; value: Uint8Array }
  | { field: number; wire: 2; value: Uint8Array }
  | { field: number; wire: 5; value: Uint8Array };

/**
 * Reads the fields of one protobuf message (proto2/proto3 wire format:
 * varints, 64-bit, length-delimited and 32-bit fields; groups are rejected).
 * Nested messages come back as their bytes, to be read with another call.
 * Throws {@link ConfigError} naming `file` on truncated or malformed input.
 */
export function readProtoFields(bytes: Uint8Array, file?: string): ProtoField[] {
  const fields: ProtoField[] = [];
  let pos = 0;
  const fail = (what: string): never => {
    throw new ConfigError(`malformed protobuf at byte ${pos}: ${what}`, file === undefined ? {} : { file });
  };
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) fail('truncated varint');
      const b = bytes[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    return fail('varint longer than 10 bytes');
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > bytes.length) fail(`field of ${n} bytes runs past the end`);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) fail('field number 0');
    if (wire === 0) fields.push({ field, wire, value: varint() });
    else if (wire === 1) fields.push({ field, wire, value: take(8) });
    else if (wire === 2) fields.push({ field, wire, value: take(Number(varint())) });
    else if (wire === 5) fields.push({ field, wire, value: take(4) });
    else fail(`unsupported wire type ${wire}`);
  }
  return fields;
}

/** A varint as a signed 64-bit integer (proto `int32`/`int64` store negatives as 10-byte two's complement). */
export function int64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** A 32-bit little-endian IEEE float field. */
export function float32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

/** A UTF-8 string field. */
export function utf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}
