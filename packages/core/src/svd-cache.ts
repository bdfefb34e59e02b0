import type { Matrix } from './matrix.js';
import { svd } from './svd-exact.js';
import type { SvdResult } from './svd-types.js';

/**
 * A content key for a matrix: element type, shape and the 64-bit FNV-1a hash
 * of its raw bytes, e.g. `f32:64x64:cbf29ce484222325`. Two matrices with the
 * same key hold the same numbers (up to a 2⁻⁶⁴ collision chance).
 */
export function hashMatrix(a: Matrix): string {
  const bytes = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  // FNV-1a 64 in four 16-bit limbs (h0 lowest) so every product stays exact in
  // double arithmetic: prime = 2⁴⁰ + 0x1b3, offset basis 0xcbf29ce484222325.
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i] as number;
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    const t3 = h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  const hex = [h3, h2, h1, h0].map((h) => h.toString(16).padStart(4, '0')).join('');
  const type = a.data instanceof Float32Array ? 'f32' : 'f64';
  return `${type}:${a.rows}x${a.cols}:${hex}`;
}

/** Limits of an {@link SvdCache}; whichever is hit first evicts the least recently used entry. */
export interface SvdCacheOptions {
  /** Most entries kept; default 64. */
  maxEntries?: number;
  /** Most bytes of U, S and Vt kept; default 256 MiB. An entry larger than this is returned but not kept. */
  maxBytes?: number;
}

/**
 * An LRU cache of exact SVDs keyed by {@link hashMatrix}, so LoRA-Dash launches,
 * re-runs and initialisers (PiSSA/MiLoRA/LoRA-Init) decompose each frozen W
 * once. Returned results are shared between callers: treat them as read-only.
 */
export class SvdCache {
  private readonly entries = new Map<string, SvdResult>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private heldBytes = 0;
  private hitCount = 0;
  private missCount = 0;

  constructor(options: SvdCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 64;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  }

  /** The exact SVD of `a` ({@link svd}), from the cache when the same content was seen. */
  get(a: Matrix, name?: string): SvdResult {
    const key = hashMatrix(a);
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      this.hitCount++;
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    this.missCount++;
    const result = svd(a, name === undefined ? {} : { name });
    const size = resultBytes(result);
    if (size <= this.maxBytes && this.maxEntries > 0) {
      this.entries.set(key, result);
      this.heldBytes += size;
      this.evict();
    }
    return result;
  }

  /** True when an SVD of this content is cached (does not touch recency). */
  has(a: Matrix): boolean {
    return this.entries.has(hashMatrix(a));
  }

  /** Drops every entry and resets the counters. */
  clear(): void {
    this.entries.clear();
    this.heldBytes = 0;
    this.hitCount = 0;
    this.missCount = 0;
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes of U, S and Vt held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Lookups answered from the cache, and lookups that computed an SVD. */
  get stats(): { hits: number; misses: number } {
    return { hits: this.hitCount, misses: this.missCount };
  }

  private evict(): void {
    for (const [key, value] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.heldBytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.heldBytes -= resultBytes(value);
    }
  }
}

function resultBytes(r: SvdResult): number {
  return r.U.data.byteLength + r.S.byteLength + r.Vt.data.byteLength;
}

/** The process-wide cache used by code that has no cache of its own. */
export const defaultSvdCache = new SvdCache();
