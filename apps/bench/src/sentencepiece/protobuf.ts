import { ConfigError, type ErrorLocation } from '@tsd-peft/core';
import { readFields, WireType } from '@tsd-peft/transformers/internal';

/** One field of a protobuf message as read off the wire. */
export type ProtoField =
  | { field: number; wire: 0; value: bigint }
  | { field: number; wire: 1; value: Uint8Array }
  | { field: number; wire: 2; value: Uint8Array }
  | { field: number; wire: 5; value: Uint8Array };

/**
 * Reads the fields of one protobuf message with the package's wire reader
 * (`readFields`, shared with the ONNX patcher). Nested messages come back as
 * their bytes, to be read with another call. Throws {@link ConfigError} naming
 * `file` on truncated or malformed input.
 */
export function readProtoFields(bytes: Uint8Array, file?: string): ProtoField[] {
  const ctx = {
    what: 'SentencePiece model',
    error: (message: string, location: ErrorLocation) => new ConfigError(`malformed protobuf: ${message}`, location),
    ...(file === undefined ? {} : { file }),
  };
  return readFields(bytes, 0, bytes.length, ctx).map((f): ProtoField => {
    if (f.wire === WireType.Varint) return { field: f.field, wire: 0, value: f.varint as bigint };
    return { field: f.field, wire: f.wire, value: bytes.subarray(f.valueStart, f.end) };
  });
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
