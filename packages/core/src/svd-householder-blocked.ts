import { gemmABt } from './svd-gemm.js';

/** Reflectors per compact-WY block: large enough for matrix-product speed, small enough that T stays cheap. */
const BLOCK = 32;

/**
 * Where the Householder vectors of a bidiagonalisation live (see
 * `bidiagonalize`): vector j has an implicit 1 at position j + shift and its
 * tail from j + shift + 1, read with `entry(j, t)` for t > j + shift.
 */
export interface ReflectorSet {
  /** Number of reflectors. */
  readonly count: number;
  /** Length of the vectors' space (m for left reflectors, n for right ones). */
  readonly length: number;
  /** Offset of vector j's leading 1 from j: 0 for left, 1 for right reflectors. */
  readonly shift: number;
  readonly tau: Float64Array;
  entry(j: number, t: number): number;
}

/** Left reflectors of `bidiagonalize(a, m, n)`: vector j lies below the diagonal in column j. */
export function leftReflectors(a: Float64Array, m: number, n: number, tau: Float64Array): ReflectorSet {
  return { count: n, length: m, shift: 0, tau, entry: (j, t) => a[t * n + j] as number };
}

/** Right reflectors: vector j lies right of the superdiagonal in row j. */
export function rightReflectors(a: Float64Array, n: number, tau: Float64Array): ReflectorSet {
  return { count: Math.max(n - 2, 0), length: n, shift: 1, tau, entry: (j, t) => a[j * n + t] as number };
}

/**
 * Ct ← Ct·(H₀·H₁···H_{count−1})ᵀ for Ct with `rows` rows of length `length`,
 * i.e. C ← H₀···H_{count−1}·C on C = Ctᵀ: this turns the bidiagonal's singular
 * vectors (as rows) into A's. Blocks of reflectors are applied in compact WY
 * form H_{j}···H_{j+b−1} = I − Y·T·Yᵀ (Schreiber & Van Loan 1989), so the work
 * is two matrix products per block instead of rank-1 updates.
 */
export function applyReflectorsToRows(ct: Float64Array, rows: number, set: ReflectorSet): void {
  const { count, length, shift, tau } = set;
  const lastBlock = Math.floor(Math.max(count - 1, 0) / BLOCK) * BLOCK;
  for (let j0 = lastBlock; j0 >= 0; j0 -= BLOCK) {
    const nb = Math.min(BLOCK, count - j0);
    if (nb <= 0) continue;
    const start = j0 + shift; // first position any reflector of the block touches
    const len = length - start;
    // Yᵀ (nb × len) and Y (len × nb), both row-major.
    const yT = new Float64Array(nb * len);
    for (let a = 0; a < nb; a++) {
      const lead = a; // position of reflector j0+a's leading 1, relative to start
      yT[a * len + lead] = 1;
      for (let t = lead + 1; t < len; t++) yT[a * len + t] = set.entry(j0 + a, start + t);
    }
    const y = new Float64Array(len * nb);
    for (let a = 0; a < nb; a++) for (let t = a; t < len; t++) y[t * nb + a] = yT[a * len + t] as number;
    const T = triangularFactor(yT, nb, len, tau, j0);
    // Z = Ct[:, start:]·Y, then Z ← Z·Tᵀ, then Ct[:, start:] −= Z·Yᵀ.
    const z = new Float64Array(rows * nb);
    gemmABt(rows, nb, len, ct, start, length, yT, 0, len, z, 0, nb);
    const zt = new Float64Array(rows * nb);
    for (let r = 0; r < rows; r++) {
      for (let a = 0; a < nb; a++) {
        let sum = 0;
        for (let b = a; b < nb; b++) sum += (z[r * nb + b] as number) * (T[a * nb + b] as number);
        zt[r * nb + a] = sum;
      }
    }
    gemmABt(rows, len, nb, zt, 0, nb, y, 0, nb, ct, start, length, true);
  }
}

/**
 * The upper-triangular T of H_{j0}···H_{j0+nb−1} = I − Y·T·Yᵀ (LAPACK `dlarft`,
 * forward, columnwise): T[i][i] = τᵢ and T[0:i, i] = −τᵢ·T[0:i, 0:i]·Y[:, 0:i]ᵀ·yᵢ.
 */
function triangularFactor(yT: Float64Array, nb: number, len: number, tau: Float64Array, j0: number): Float64Array {
  const T = new Float64Array(nb * nb);
  const w = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    const ti = tau[j0 + i] as number;
    T[i * nb + i] = ti;
    if (ti === 0) continue;
    for (let a = 0; a < i; a++) {
      let s = 0;
      for (let t = i; t < len; t++) s += (yT[a * len + t] as number) * (yT[i * len + t] as number);
      w[a] = -ti * s;
    }
    for (let a = 0; a < i; a++) {
      let s = 0;
      for (let b = a; b < i; b++) s += (T[a * nb + b] as number) * (w[b] as number);
      T[a * nb + i] = s;
    }
  }
  return T;
}
