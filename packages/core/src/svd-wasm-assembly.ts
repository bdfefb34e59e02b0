/**
 * The WebAssembly module behind svd-wasm-kernels.ts, assembled from the
 * instruction lists below (WebAssembly core spec §5 binary format and the
 * fixed-width SIMD proposal): `gemm` (C = A·Bᵀ, 2×4 blocks of f64x2
 * accumulators), `gemvT` (out = Aᵀ·v) and `gemvN` (out = A·u), four rows per
 * pass. Every function takes six i32 parameters (counts and byte addresses)
 * into one imported memory, `env.mem`.
 */

import { OP, WASM_TYPE, assembleWasmModule, leb128 as leb, wasm } from './wasm-module.js';

const { block: BLOCK, loop: LOOP, br: BR, brIf: BR_IF, end: END } = OP;
const { i32GeU: I32_GE_U, i32Add: I32_ADD, i32Mul: I32_MUL, f64Add: F64_ADD, f64Store: F64_STORE, simd: SIMD } = OP;

// Parameters: 0 m, 1 n, 2 k (element counts, padded), 3 aPtr, 4 bPtr, 5 cPtr (byte addresses).
const M = 0, N = 1, K = 2, A_PTR = 3, B_PTR = 4, C_PTR = 5;
// i32 locals.
const I = 6, J = 7, P = 8, KB = 9, A0 = 10, A1 = 11, B0 = 12, B1 = 13, B2 = 14, B3 = 15, C = 16;
// v128 locals: accumulators acc[r][q] at ACC + 4r + q, then the loaded operands.
const ACC = 17, VA0 = 25, VA1 = 26, VB = 27;

const { get, set, i32 } = wasm;
const v128Load = (addr: number[]) => [...addr, SIMD, 0x00, 0x04, 0x00];
const f64x2Mul = [SIMD, 0xf2, 0x01];
const f64x2Add = [SIMD, 0xf0, 0x01];
const lane = (l: number) => [SIMD, 0x21, l];
const zero128 = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];

function kernelBody(): number[] {
  const code: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) code.push(...p);
  };
  emit(get(K), i32(8), [I32_MUL], set(KB));
  emit(i32(0), set(I));
  emit([BLOCK, 0x40, LOOP, 0x40]);
  emit(get(I), get(M), [I32_GE_U, BR_IF, 1]);
  emit(get(A_PTR), get(I), get(KB), [I32_MUL, I32_ADD], set(A0));
  emit(get(A0), get(KB), [I32_ADD], set(A1));
  emit(i32(0), set(J));
  emit([BLOCK, 0x40, LOOP, 0x40]);
  emit(get(J), get(N), [I32_GE_U, BR_IF, 1]);
  emit(get(B_PTR), get(J), get(KB), [I32_MUL, I32_ADD], set(B0));
  emit(get(B0), get(KB), [I32_ADD], set(B1));
  emit(get(B1), get(KB), [I32_ADD], set(B2));
  emit(get(B2), get(KB), [I32_ADD], set(B3));
  for (let r = 0; r < 8; r++) emit(zero128, set(ACC + r));
  emit(i32(0), set(P));
  emit([BLOCK, 0x40, LOOP, 0x40]);
  emit(get(P), get(KB), [I32_GE_U, BR_IF, 1]);
  emit(v128Load([...get(A0), ...get(P), I32_ADD]), set(VA0));
  emit(v128Load([...get(A1), ...get(P), I32_ADD]), set(VA1));
  const bRows = [B0, B1, B2, B3];
  for (let q = 0; q < 4; q++) {
    emit(v128Load([...get(bRows[q] as number), ...get(P), I32_ADD]), set(VB));
    emit(get(ACC + q), get(VA0), get(VB), f64x2Mul, f64x2Add, set(ACC + q));
    emit(get(ACC + 4 + q), get(VA1), get(VB), f64x2Mul, f64x2Add, set(ACC + 4 + q));
  }
  emit(get(P), i32(16), [I32_ADD], set(P));
  emit([BR, 0, END, END]);
  // C[i, j..j+3] and C[i+1, j..j+3]: each accumulator's two lanes summed.
  emit(get(C_PTR), get(I), get(N), [I32_MUL], get(J), [I32_ADD], i32(8), [I32_MUL, I32_ADD], set(C));
  for (let r = 0; r < 2; r++) {
    for (let q = 0; q < 4; q++) {
      emit(get(C), get(ACC + 4 * r + q), lane(0), get(ACC + 4 * r + q), lane(1), [F64_ADD, F64_STORE, 0x03, ...leb(8 * q)]);
    }
    if (r === 0) emit(get(C), get(N), i32(8), [I32_MUL, I32_ADD], set(C));
  }
  emit(get(J), i32(4), [I32_ADD], set(J));
  emit([BR, 0, END, END]);
  emit(get(I), i32(2), [I32_ADD], set(I));
  emit([BR, 0, END, END]);
  code.push(END);
  return code;
}

// gemv parameters: 0 rows, 1 cols (even), 2 aPtr, 3 row stride in bytes, 4 vector, 5 out.
// i32 locals 6..12: t, byte position, column bytes, row pointers r0..r3; v128 locals 13..17.
const G_ROWS = 0, G_COLS = 1, G_A = 2, G_LDA = 3, G_VEC = 4, G_OUT = 5;
const G_T = 6, G_JB = 7, G_CB = 8, G_R = 9; // r0..r3 at 9..12
const G_V = 13; // v128: 13..16 splats or accumulators, 17 scratch

const { i32GtU: I32_GT_U, f64Load: F64_LOAD } = OP;
const f64x2Splat = [SIMD, 0x14];
const v128Store = [SIMD, 0x0b, 0x04, 0x00];

/** Emits `rows` loop over blocks of `step` rows: while (t + step <= rows) { inner(); t += step }. */
function rowBlocks(code: number[], step: number, inner: () => number[]): void {
  code.push(BLOCK, 0x40, LOOP, 0x40);
  code.push(...get(G_T), ...i32(step), I32_ADD, ...get(G_ROWS), I32_GT_U, BR_IF, 1);
  for (let q = 0; q < step; q++) {
    code.push(...get(G_A), ...get(G_T), ...i32(q), I32_ADD, ...get(G_LDA), I32_MUL, I32_ADD, ...set(G_R + q));
  }
  code.push(...inner());
  code.push(...get(G_T), ...i32(step), I32_ADD, ...set(G_T), BR, 0, END, END);
}

/** Emits a loop over the columns in 16-byte steps: for (jb = 0; jb < cols·8; jb += 16) inner(). */
function columnLoop(inner: number[]): number[] {
  return [
    ...i32(0), ...set(G_JB), BLOCK, 0x40, LOOP, 0x40,
    ...get(G_JB), ...get(G_CB), I32_GE_U, BR_IF, 1,
    ...inner,
    ...get(G_JB), ...i32(16), I32_ADD, ...set(G_JB), BR, 0, END, END,
  ];
}

const at = (base: number) => [...get(base), ...get(G_JB), I32_ADD];

/** out[j] = Σₜ v[t]·A[t, j]: four rows per pass, two columns per instruction. */
function gemvTBody(): number[] {
  const code: number[] = [];
  code.push(...get(G_COLS), ...i32(8), I32_MUL, ...set(G_CB));
  code.push(...columnLoop([...at(G_OUT), ...zero128, ...v128Store]));
  code.push(...i32(0), ...set(G_T));
  for (const step of [4, 1]) {
    rowBlocks(code, step, () => {
      const inner: number[] = [];
      for (let q = 0; q < step; q++) {
        inner.push(...get(G_VEC), ...get(G_T), ...i32(q), I32_ADD, ...i32(8), I32_MUL, I32_ADD, F64_LOAD, 0x03, 0x00, ...f64x2Splat, ...set(G_V + q));
      }
      const body: number[] = [...at(G_OUT), ...at(G_OUT), SIMD, 0x00, 0x04, 0x00];
      for (let q = 0; q < step; q++) body.push(...get(G_V + q), ...v128Load(at(G_R + q)), ...f64x2Mul, ...f64x2Add);
      body.push(...v128Store);
      inner.push(...columnLoop(body));
      return inner;
    });
  }
  code.push(END);
  return code;
}

/** out[t] = Σⱼ A[t, j]·u[j]: four rows per pass sharing each load of u. */
function gemvNBody(): number[] {
  const code: number[] = [];
  code.push(...get(G_COLS), ...i32(8), I32_MUL, ...set(G_CB));
  code.push(...i32(0), ...set(G_T));
  for (const step of [4, 1]) {
    rowBlocks(code, step, () => {
      const inner: number[] = [];
      for (let q = 0; q < step; q++) inner.push(...zero128, ...set(G_V + q));
      const body: number[] = [...v128Load(at(G_VEC)), ...set(G_V + 4)];
      for (let q = 0; q < step; q++) body.push(...get(G_V + q), ...v128Load(at(G_R + q)), ...get(G_V + 4), ...f64x2Mul, ...f64x2Add, ...set(G_V + q));
      inner.push(...columnLoop(body));
      for (let q = 0; q < step; q++) {
        inner.push(...get(G_OUT), ...get(G_T), ...i32(q), I32_ADD, ...i32(8), I32_MUL, I32_ADD);
        inner.push(...get(G_V + q), ...lane(0), ...get(G_V + q), ...lane(1), F64_ADD, F64_STORE, 0x03, 0x00);
      }
      return inner;
    });
  }
  code.push(END);
  return code;
}

/** The module's bytes: exports gemm(m, n, k, a, b, c), gemvT(rows, cols, a, lda, v, out), gemvN(rows, cols, a, lda, u, out). */
export function assembleKernels(): Uint8Array<ArrayBuffer> {
  const locals = (i32s: number, v128s: number) => [[i32s, WASM_TYPE.i32], [v128s, WASM_TYPE.v128]] as const;
  return assembleWasmModule([
    { name: 'gemm', params: 6, locals: locals(11, 11), body: kernelBody() },
    { name: 'gemvT', params: 6, locals: locals(7, 5), body: gemvTBody() },
    { name: 'gemvN', params: 6, locals: locals(7, 5), body: gemvNBody() },
  ]);
}
