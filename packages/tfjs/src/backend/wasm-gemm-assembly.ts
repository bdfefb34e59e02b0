/**
 * The WebAssembly SIMD module behind wasm-gemm.ts: one exported function,
 *
 *   bgemm(G, M, N, K, a, aBatch, aRow, aCol, b, bBatch, bRow, bCol, c, mc, pack, kc)
 *
 * which writes, for each of G batches, C[M×N] = A·B where A and B are
 * addressed through byte strides (aRow/aCol between rows/columns of A,
 * bRow/bCol of B), so transposed operands cost nothing extra: A's elements
 * are splatted one at a time, and B is copied panel by panel into `pack`
 * anyway (with vector loads when its rows are contiguous, element by element
 * when it is transposed). Batch strides are in bytes too (0 broadcasts one
 * operand over the batch); C is contiguous. Every address is a byte offset into the imported memory, which
 * is the wasm backend's own heap, so tensors are read and written in place.
 *
 * Blocking: rows in blocks of `mc` and the inner dimension in blocks of `kc`
 * (chosen so that A's block stays in L2 and B's packed panel in L1), and
 * within a block, for each 8-column panel of B, 4 rows × 8 columns of f32x4 accumulators (8 + 3 live vector
 * registers of x64's 16), each B row segment loaded once per 4 rows and each
 * A element splatted once per 8 columns; remainders run as 4-column and
 * scalar tiles, and as single rows.
 */
import { OP, WASM_TYPE, assembleWasmModule, leb128, wasm } from '@tsd-peft/core';

const { get, set, i32, simd } = wasm;
const { block, loop, br, brIf, end } = OP;

// Parameters.
const G = 0, M = 1, N = 2, K = 3, A = 4, A_BATCH = 5, A_ROW = 6, A_COL = 7, B = 8, B_BATCH = 9, B_ROW = 10, B_COL = 11;
const C = 12, MC = 13, PACK = 14, KC = 15;
// i32 locals.
const GI = 16, I = 17, J = 18, P = 19, BP = 20, I0 = 21, IEND = 22, K0 = 23, KLEN = 24, AR = 25; // AR..AR+3: row pointers into A
// v128 locals: accumulators ACC + 2r + q, then the B segment and the A splat.
const ACC = 29, VB0 = 37, VB1 = 38, VA = 39;
// f32 locals: scalar accumulators, then the B element.
const SACC = 40, SB = 44;

const MAX_ROWS = 4;
const v128Load = (offset: number) => simd(0x00, 0x04, offset);
const v128Store = (offset: number) => simd(0x0b, 0x04, offset);
const load32Splat = simd(0x09, 0x02, 0x00);
const f32x4Add = simd(0xe4);
const f32x4Mul = simd(0xe6);
const v128Zero = simd(0x0c, ...new Array<number>(16).fill(0));
const f32Zero = [0x43, 0, 0, 0, 0];
const f32Load = [OP.f32Load, 0x02, 0x00];
const f32Store = [OP.f32Store, 0x02, 0x00];

/** `while (counter + step <= limit) { body; counter += step }` */
function stepLoop(counter: number, step: number, limit: number, body: number[]): number[] {
  return [
    block, 0x40, loop, 0x40,
    ...get(counter), ...i32(step), OP.i32Add, ...get(limit), OP.i32GtU, brIf, 1,
    ...body,
    ...get(counter), ...i32(step), OP.i32Add, ...set(counter),
    br, 0, end, end,
  ];
}

/** &B[K0, J] */
const bBlockStart = [...get(B), ...get(K0), ...get(B_ROW), OP.i32Mul, OP.i32Add, ...get(J), ...get(B_COL), OP.i32Mul, OP.i32Add];

/**
 * One `rows × width` tile of C at (I, J) over the K block [K0, K0 + KLEN):
 * width 8 and 4 use f32x4 lanes, width 1 scalars. The first block starts
 * from zero, later ones from the partial sums stored in C, so every element
 * is still one sequential fp32 sum over p = 0 … K−1.
 */
function tile(rows: number, width: 8 | 4 | 1, resume: boolean): number[] {
  const code: number[] = [];
  for (let r = 0; r < rows; r++) {
    code.push(...get(A), ...get(I), ...i32(r), OP.i32Add, ...get(A_ROW), OP.i32Mul, OP.i32Add);
    code.push(...get(K0), ...get(A_COL), OP.i32Mul, OP.i32Add, ...set(AR + r));
  }
  // Vector tiles read the packed panel (rows of `width` floats), scalar ones B itself.
  if (width === 1) code.push(...bBlockStart, ...set(BP));
  else code.push(...get(PACK), ...set(BP));
  // &C[I + r, J]
  const cAddress = (r: number) => [...get(C), ...get(I), ...i32(r), OP.i32Add, ...get(N), OP.i32Mul, ...get(J), OP.i32Add, ...i32(4), OP.i32Mul, OP.i32Add];
  for (let r = 0; r < rows; r++) {
    if (width === 1) code.push(...(resume ? [...cAddress(r), ...f32Load] : f32Zero), ...set(SACC + r));
    else for (let q = 0; q < width / 4; q++) code.push(...(resume ? [...cAddress(r), ...v128Load(16 * q)] : v128Zero), ...set(ACC + 2 * r + q));
  }
  const inner: number[] = [];
  if (width === 1) inner.push(...get(BP), ...f32Load, ...set(SB));
  else for (let q = 0; q < width / 4; q++) inner.push(...get(BP), ...v128Load(16 * q), ...set(q === 0 ? VB0 : VB1));
  for (let r = 0; r < rows; r++) {
    if (width === 1) {
      inner.push(...get(SACC + r), ...get(AR + r), ...f32Load, ...get(SB), OP.f32Mul, OP.f32Add, ...set(SACC + r));
    } else {
      inner.push(...get(AR + r), ...load32Splat, ...set(VA));
      for (let q = 0; q < width / 4; q++) {
        const acc = ACC + 2 * r + q;
        inner.push(...get(acc), ...get(VA), ...get(q === 0 ? VB0 : VB1), ...f32x4Mul, ...f32x4Add, ...set(acc));
      }
    }
    inner.push(...get(AR + r), ...get(A_COL), OP.i32Add, ...set(AR + r));
  }
  inner.push(...get(BP), ...(width === 1 ? get(B_ROW) : i32(4 * width)), OP.i32Add, ...set(BP));
  code.push(...i32(0), ...set(P), ...stepLoop(P, 1, KLEN, inner));
  for (let r = 0; r < rows; r++) {
    if (width === 1) code.push(...cAddress(r), ...get(SACC + r), ...f32Store);
    else for (let q = 0; q < width / 4; q++) code.push(...cAddress(r), ...get(ACC + 2 * r + q), ...v128Store(16 * q));
  }
  return code;
}

/**
 * Copies B's KLEN × width panel at (K0, J) into PACK, contiguous: the tiles
 * then read it with one stride whatever B's layout. For row-major B the
 * copy is two vector loads per row; it also matters there, since with N a
 * power of two the panel's rows fall into a few cache sets and evict each
 * other (1024³: 19 → 46+ GFLOP/s with packing). A transposed B (bCol ≠ 4)
 * is gathered element by element, K·width loads per panel against the
 * panel's 2·K·width·rows flops.
 */
function packPanel(width: 8 | 4): number[] {
  const dst = AR; // AR..AR+1 are free until the tiles start
  const src = AR + 1;
  const rows: number[] = [];
  for (let q = 0; q < width / 4; q++) rows.push(...get(dst), ...get(BP), ...v128Load(16 * q), ...v128Store(16 * q));
  const gather: number[] = [...get(BP), ...set(src)];
  for (let c = 0; c < width; c++) {
    gather.push(...get(dst), ...get(src), ...f32Load, OP.f32Store, 0x02, ...leb128(4 * c));
    if (c < width - 1) gather.push(...get(src), ...get(B_COL), OP.i32Add, ...set(src));
  }
  const advance = [...get(BP), ...get(B_ROW), OP.i32Add, ...set(BP), ...get(dst), ...i32(4 * width), OP.i32Add, ...set(dst)];
  const copyLoop = (copy: number[]) => [...get(PACK), ...set(dst), ...i32(0), ...set(P), ...stepLoop(P, 1, KLEN, [...copy, ...advance])];
  return [
    ...bBlockStart, ...set(BP),
    ...get(B_COL), ...i32(4), OP.i32Eq, OP.if, 0x40, ...copyLoop(rows), OP.else, ...copyLoop(gather), end,
  ];
}

function body(): number[] {
  // Within a block of MC rows and KC columns of A (kept in L2), each 8-column
  // panel of B (KC × 32 bytes, in L1) serves every 4-row tile of the block.
  const tiles = (width: 8 | 4 | 1, resume: boolean) => [
    ...get(I0), ...set(I),
    ...stepLoop(I, MAX_ROWS, IEND, tile(MAX_ROWS, width, resume)),
    ...stepLoop(I, 1, IEND, tile(1, width, resume)),
  ];
  // the first K block starts from zero, later ones from C (two copies of the tile loops)
  const panel = (width: 8 | 4 | 1) => [
    ...(width === 1 ? [] : packPanel(width)),
    ...get(K0), OP.i32Eqz, OP.if, 0x40, ...tiles(width, false), OP.else, ...tiles(width, true), end,
  ];
  const columns: number[] = [...i32(0), ...set(J)];
  for (const width of [8, 4, 1] as const) columns.push(...stepLoop(J, width, N, panel(width)));
  const rowBlock: number[] = [
    // IEND = min(I0 + MC, M)
    ...get(I0), ...get(MC), OP.i32Add, ...get(M), ...get(I0), ...get(MC), OP.i32Add, ...get(M), OP.i32LtU, OP.select, ...set(IEND),
    // do { KLEN = min(KC, K − K0); columns } while ((K0 += KC) < K): runs once when K = 0, writing zeros
    ...i32(0), ...set(K0),
    loop, 0x40,
    ...get(KC), ...get(K), ...get(K0), OP.i32Sub, ...get(KC), ...get(K), ...get(K0), OP.i32Sub, OP.i32LtU, OP.select, ...set(KLEN),
    ...columns,
    ...get(K0), ...get(KC), OP.i32Add, ...set(K0),
    ...get(K0), ...get(K), OP.i32LtU, brIf, 0,
    end,
  ];
  const batch: number[] = [
    ...i32(0), ...set(I0),
    block, 0x40, loop, 0x40,
    ...get(I0), ...get(M), OP.i32GeU, brIf, 1,
    ...rowBlock,
    ...get(I0), ...get(MC), OP.i32Add, ...set(I0),
    br, 0, end, end,
  ];
  batch.push(...get(A), ...get(A_BATCH), OP.i32Add, ...set(A));
  batch.push(...get(B), ...get(B_BATCH), OP.i32Add, ...set(B));
  batch.push(...get(C), ...get(M), ...get(N), OP.i32Mul, ...i32(4), OP.i32Mul, OP.i32Add, ...set(C));
  return [...i32(0), ...set(GI), ...stepLoop(GI, 1, G, batch), end];
}

/** The module's bytes: exports `bgemm` (16 i32 parameters) over the imported memory `env.mem`. */
export function assembleGemmModule(): Uint8Array<ArrayBuffer> {
  return assembleWasmModule([
    {
      name: 'bgemm',
      params: 16,
      locals: [
        [13, WASM_TYPE.i32],
        [11, WASM_TYPE.v128],
        [5, WASM_TYPE.f32],
      ],
      body: body(),
    },
  ]);
}
