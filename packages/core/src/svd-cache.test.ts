import { describe, expect, it } from 'vitest';
import { gaussianMatrix } from './svd-checks.test-helper.js';
import { SvdCache, defaultSvdCache, hashMatrix } from './svd-cache.js';
import { svd } from './svd-exact.js';

describe('hashMatrix', () => {
  it('is FNV-1a 64 over the raw bytes, with type and shape', () => {
    // Reference digests from a direct Python big-integer FNV-1a 64 implementation.
    expect(hashMatrix({ rows: 0, cols: 0, data: new Float32Array(0) })).toBe('f32:0x0:cbf29ce484222325');
    expect(hashMatrix({ rows: 2, cols: 2, data: Float32Array.from([1, 2, 3, 4]) })).toBe('f32:2x2:8faa0a18faf0fb98');
  });

  it('depends on content, shape, element type and byte offset of views', () => {
    const a = gaussianMatrix(5, 6, 1);
    const b = { rows: 5, cols: 6, data: Float64Array.from(a.data) };
    expect(hashMatrix(b)).toBe(hashMatrix(a));
    expect(hashMatrix({ rows: 6, cols: 5, data: a.data })).not.toBe(hashMatrix(a));
    b.data[17] = (b.data[17] as number) + 1e-15;
    expect(hashMatrix(b)).not.toBe(hashMatrix(a));
    expect(hashMatrix({ rows: 5, cols: 6, data: Float32Array.from(a.data) })).toMatch(/^f32:5x6:/);
    const buf = new Float64Array(31);
    buf.set(a.data, 1);
    expect(hashMatrix({ rows: 5, cols: 6, data: buf.subarray(1) })).toBe(hashMatrix(a));
  });
});

describe('SvdCache', () => {
  it('computes once per content and returns the exact SVD', () => {
    const cache = new SvdCache();
    const a = gaussianMatrix(12, 8, 2);
    const first = cache.get(a, 'w');
    const again = cache.get({ rows: 12, cols: 8, data: Float64Array.from(a.data) });
    expect(again).toBe(first);
    expect(cache.stats).toEqual({ hits: 1, misses: 1 });
    expect(first.S).toEqual(svd(a).S);
    expect(cache.has(a)).toBe(true);
    expect(cache.bytes).toBe((12 * 8 + 8 + 8 * 8) * 8);
  });

  it('evicts the least recently used entry by count and by bytes', () => {
    const cache = new SvdCache({ maxEntries: 2 });
    const [a, b, c] = [1, 2, 3].map((s) => gaussianMatrix(6, 4, s)) as [ReturnType<typeof gaussianMatrix>, ReturnType<typeof gaussianMatrix>, ReturnType<typeof gaussianMatrix>];
    cache.get(a);
    cache.get(b);
    cache.get(a); // a becomes most recent, so b goes first
    cache.get(c);
    expect(cache.size).toBe(2);
    expect(cache.has(a)).toBe(true);
    expect(cache.has(b)).toBe(false);
    expect(cache.has(c)).toBe(true);
    const oneEntry = (6 * 4 + 4 + 4 * 4) * 8;
    const bytes = new SvdCache({ maxBytes: oneEntry * 2 + 1 });
    bytes.get(a);
    bytes.get(b);
    bytes.get(c);
    expect(bytes.size).toBe(2);
    expect(bytes.bytes).toBe(oneEntry * 2);
    expect(bytes.has(a)).toBe(false);
    const tooSmall = new SvdCache({ maxBytes: 10 });
    expect(tooSmall.get(a).S.length).toBe(4);
    expect(tooSmall.size).toBe(0);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('has a shared default instance', () => {
    expect(defaultSvdCache).toBeInstanceOf(SvdCache);
  });
});
