/** Deterministic contribution of `rank` to element k of segment s (all-reduce unit test). */
export function contribution(rank: number, s: number, k: number): number {
  return Math.fround(Math.sin(1 + rank * 7.1 + s * 3.3 + k * 0.37) * 10 ** ((k % 7) - 3));
}
