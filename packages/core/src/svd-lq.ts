import { makeReflector } from './svd-householder.js';
import { applyBlockToRows, buildBlock, type ReflectorSet } from './svd-householder-blocked.js';

/** Rows per blocked panel. */
const PANEL = 32;

/**
 * Blocked Householder LQ of a wide row-major k×N matrix (k ≤ N), in place:
 * W·H₀···H_{k−1} = [L 0] (Golub & Van Loan §5.2.2 transposed; LAPACK `dgelqf`).
 * L's strict lower part stays below the diagonal, its diagonal on the diagonal,
 * and reflector j's tail right of the diagonal in row j. Rows are contiguous,
 * so panels are factored with dot/axpy on rows and the trailing rows are
 * updated with two matrix products per panel (compact WY).
 *
 * Used before bidiagonalising a far-from-square matrix: the 2·k²·N flops of LQ
 * are mostly matrix products, and the bidiagonalisation (half rank-1 updates)
 * then only sees the k×k L.
 */
export function lqFactor(w: Float64Array, k: number, N: number): Float64Array {
  const tau = new Float64Array(k);
  for (let j0 = 0; j0 < k; j0 += PANEL) {
    const nb = Math.min(PANEL, k - j0);
    for (let j = j0; j < j0 + nb; j++) {
      const row = j * N;
      const r = makeReflector(w, row + j, 1, N - j);
      tau[j] = r.tau;
      if (r.tau === 0) continue;
      // Apply H_j to the rest of the panel: x ← x − τ·(x·v)·v, with v = (1, w[j, j+1:]).
      for (let i = j + 1; i < j0 + nb; i++) {
        const ri = i * N;
        let s = w[ri + j] as number;
        for (let t = j + 1; t < N; t++) s += (w[ri + t] as number) * (w[row + t] as number);
        const f = r.tau * s;
        w[ri + j] = (w[ri + j] as number) - f;
        for (let t = j + 1; t < N; t++) w[ri + t] = (w[ri + t] as number) - f * (w[row + t] as number);
      }
    }
    const below = k - j0 - nb;
    if (below > 0) applyBlockToRows(w, below, N, buildBlock(lqReflectors(w, k, N, tau), j0, nb), false, j0 + nb);
  }
  return tau;
}

/** The reflectors of {@link lqFactor}: vector j starts with 1 at position j, tail in row j. */
export function lqReflectors(w: Float64Array, k: number, N: number, tau: Float64Array): ReflectorSet {
  return { count: k, length: N, shift: 0, tau, data: w, vectorStride: N, entryStride: 1 };
}

/** L of {@link lqFactor} as a dense k×k row-major matrix (zeros above the diagonal). */
export function lowerFactor(w: Float64Array, k: number, N: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) l[i * k + j] = w[i * N + j] as number;
  return l;
}
