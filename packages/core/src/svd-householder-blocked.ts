import { gemmABt, transposeBlock } from './svd-gemm.js';

/** Reflectors per compact-WY block: large enough for matrix-product speed, small enough that T stays cheap. */
const BLOCK = 32;

/**
 * Where the Householder vectors of a bidiagonalisation or LQ live: vector j has
 * an implicit 1 at position j + shift and its tail from j + shift + 1, entry t
 * stored at data[j·vectorStride + t·entryStride].
 */
export interface ReflectorSet {
  /** Number of reflectors. */
  readonly count: number;
  /** Length of the vectors' space (m for left reflectors, n for right ones). */
  readonly length: number;
  /** Offset of vector j's leading 1 from j: 0 for left, 1 for right reflectors. */
  readonly shift: number;
  readonly tau: Float64Array;
  readonly data: Float64Array;
  readonly vectorStride: number;
  readonly entryStride: number;
}

/** Left reflectors of `bidiagonalize(a, m, n)`: vector j lies below the diagonal in column j. */
export function leftReflectors(a: Float64Array, m: number, n: number, tau: Float64Array): ReflectorSet {
  return { count: n, length: m, shift: 0, tau, data: a, vectorStride: 1, entryStride: n };
}

/** Right reflectors: vector j lies right of the superdiagonal in row j. */
export function rightReflectors(a: Float64Array, n: number, tau: Float64Array): ReflectorSet {
  return { count: Math.max(n - 2, 0), length: n, shift: 1, tau, data: a, vectorStride: n, entryStride: 1 };
}

/**
 * Ct ← Ct·(H₀·H₁···H_{count−1})ᵀ for Ct with `rows` rows of length `length`,
 * i.e. C ← H₀···H_{count−1}·C on C = Ctᵀ: this turns the bidiagonal's singular
 * vectors (as rows) into A's. Blocks of reflectors are applied in compact WY
 * form H_{j}···H_{j+b−1} = I − Y·T·Yᵀ (Schreiber & Van Loan 1989), so the work
 * is two matrix products per block instead of rank-1 updates.
 */
export function applyReflectorsToRows(ct: Float64Array, rows: number, set: ReflectorSet): void {
  const { count } = set;
  const lastBlock = Math.floor(Math.max(count - 1, 0) / BLOCK) * BLOCK;
  for (let j0 = lastBlock; j0 >= 0; j0 -= BLOCK) {
    const nb = Math.min(BLOCK, count - j0);
    if (nb <= 0) continue;
    applyBlockToRows(ct, rows, set.length, buildBlock(set, j0, nb), true);
  }
}

/** A block of reflectors j0..j0+nb−1 in compact WY form, restricted to positions from `start`. */
export interface WyBlock {
  readonly start: number;
  readonly len: number;
  readonly nb: number;
  /** Yᵀ, nb × len, row-major. */
  readonly yT: Float64Array;
  /** Y, len × nb, row-major. */
  readonly y: Float64Array;
  /** Upper-triangular T, nb × nb: H_{j0}···H_{j0+nb−1} = I − Y·T·Yᵀ. */
  readonly T: Float64Array;
}

/** Gathers reflectors j0..j0+nb−1 of `set` into a {@link WyBlock}. */
export function buildBlock(set: ReflectorSet, j0: number, nb: number): WyBlock {
  const start = j0 + set.shift; // first position any reflector of the block touches
  const len = set.length - start;
  const yT = new Float64Array(nb * len);
  for (let a = 0; a < nb; a++) {
    yT[a * len + a] = 1; // reflector j0+a has its leading 1 at position a from start
    const { data, entryStride } = set;
    const base = (j0 + a) * set.vectorStride + start * entryStride;
    for (let t = a + 1; t < len; t++) yT[a * len + t] = data[base + t * entryStride] as number;
  }
  const y = new Float64Array(len * nb);
  for (let a = 0; a < nb; a++) for (let t = a; t < len; t++) y[t * nb + a] = yT[a * len + t] as number;
  return { start, len, nb, yT, y, T: triangularFactor(yT, nb, len, set.tau, j0) };
}

/**
 * Rows of C (rows × ldc, positions from block.start) times the block's product:
 * C ← C·(I − Y·T·Yᵀ)ᵀ when `transposeT` (the reflectors in reverse order), else
 * C ← C·(I − Y·T·Yᵀ). Two matrix products and a small triangular one.
 */
export function applyBlockToRows(c: Float64Array, rows: number, ldc: number, block: WyBlock, transposeT: boolean, rowOffset = 0): void {
  const { start, len, nb, yT, y, T } = block;
  if (rows <= 0) return;
  const base = rowOffset * ldc + start;
  // Z = C·Y, then Z ← Z·Tᵀ (or Z·T), then C −= Z·Yᵀ.
  const z = new Float64Array(rows * nb);
  gemmABt(rows, nb, len, c, base, ldc, yT, 0, len, z, 0, nb);
  // Z·Tᵀ is Z times "Bᵀ" with B = T; Z·T uses B = Tᵀ.
  const zt = new Float64Array(rows * nb);
  gemmABt(rows, nb, nb, z, 0, nb, transposeT ? T : transposeBlock(T, 0, nb, nb, nb), 0, nb, zt, 0, nb);
  gemmABt(rows, len, nb, zt, 0, nb, y, 0, nb, c, base, ldc, true);
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
