/**
 * Byte splicing for protobuf messages: replace, delete or insert bytes inside
 * nested messages and fix up only the length prefixes of the enclosing Len
 * fields. Every other byte of the input (unknown fields, field order, even
 * non-minimal varints elsewhere) is copied unchanged, and untouched regions are
 * returned as views of the input, so a 2 GB model is not copied in memory.
 */
import { OnnxError } from '@tsd-peft/core';
import { encodeVarint } from './protobuf-wire.js';

/** A Len field that encloses an edit: its length varint at [lenStart, valueStart), payload up to `end`. */
export interface EnclosingField {
  readonly lenStart: number;
  readonly valueStart: number;
  readonly end: number;
}

/**
 * Replace `buf[start, end)` by `bytes` (start == end inserts, empty `bytes`
 * deletes). `enclosing` lists every Len field around the range, outermost
 * first; their length prefixes are re-encoded for the size change.
 */
export interface ByteEdit {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  readonly enclosing: readonly EnclosingField[];
}

interface Replacement {
  start: number;
  end: number;
  bytes: Uint8Array;
  /** Sort key among replacements at the same start: a length prefix comes before an insert into its payload. */
  order: number;
}

/**
 * Applies non-overlapping edits to `buf`. Returns the new message as a list of
 * chunks (views of `buf` for unchanged spans); write them in order, or join with
 * `concatBytes`. Throws {@link OnnxError} if edits overlap each other or a
 * length prefix, or fall outside a declared enclosing field.
 */
export function applyEdits(buf: Uint8Array, edits: readonly ByteEdit[], file?: string): Uint8Array[] {
  const where = file === undefined ? {} : { file };
  // Every enclosing field by its length prefix, with its parent in the chain and the size change of edits inside it.
  const fields = new Map<number, { field: EnclosingField; parent: number | undefined; delta: number }>();
  const reps: Replacement[] = [];
  for (const e of edits) {
    if (e.start < 0 || e.end < e.start || e.end > buf.length) {
      throw new OnnxError(`edit range [${e.start}, ${e.end}) is outside the ${buf.length}-byte model`, where);
    }
    const delta = e.bytes.length - (e.end - e.start);
    let parent: number | undefined;
    for (const f of e.enclosing) {
      if (e.start < f.valueStart || e.end > f.end) {
        throw new OnnxError(`edit [${e.start}, ${e.end}) is not inside its enclosing field [${f.valueStart}, ${f.end})`, where);
      }
      const prev = fields.get(f.lenStart);
      if (prev !== undefined && (prev.field.valueStart !== f.valueStart || prev.field.end !== f.end || prev.parent !== parent)) {
        throw new OnnxError(`two different enclosing fields share the length prefix at byte ${f.lenStart}`, where);
      }
      fields.set(f.lenStart, { field: f, parent, delta: (prev?.delta ?? 0) + delta });
      parent = f.lenStart;
    }
    reps.push({ start: e.start, end: e.end, bytes: e.bytes, order: 1 });
  }
  // Innermost first (a nested payload is strictly shorter than its parent's): a length
  // varint that grows or shrinks changes the size of the parent's payload too.
  const inner = [...fields.values()].sort((a, b) => a.field.end - a.field.valueStart - (b.field.end - b.field.valueStart));
  for (const entry of inner) {
    const { field, delta, parent } = entry;
    if (delta === 0) continue;
    const newLength = field.end - field.valueStart + delta;
    const prefix = encodeVarint(newLength);
    reps.push({ start: field.lenStart, end: field.valueStart, bytes: prefix, order: 0 });
    const growth = prefix.length - (field.valueStart - field.lenStart);
    if (growth !== 0 && parent !== undefined) {
      const p = fields.get(parent);
      if (p !== undefined) p.delta += growth;
    }
  }
  reps.sort((a, b) => a.start - b.start || a.order - b.order || a.end - b.end);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const r of reps) {
    if (r.start < at) {
      throw new OnnxError(`overlapping edits at byte ${r.start}`, where);
    }
    if (r.start > at) chunks.push(buf.subarray(at, r.start));
    if (r.bytes.length > 0) chunks.push(r.bytes);
    at = r.end;
  }
  if (at < buf.length) chunks.push(buf.subarray(at));
  return chunks;
}

/** Total length of a chunk list. */
export function chunksLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}
