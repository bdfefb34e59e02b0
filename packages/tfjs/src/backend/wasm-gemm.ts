import * as tf from '@tensorflow/tfjs-core';
import gemmBytes from './wasm-gemm.wat';
import gemmFmaBytes from './wasm-gemm.wat?relaxed-madd';
import { overrideWasmKernel } from './wasm-kernel-override.js';

/**
 * A replacement for tfjs-backend-wasm's `BatchMatMul` kernel that computes
 * `op(A)·op(B)` with our own SIMD kernel (wasm-gemm.wat) directly on
 * the backend's heap, for float32 operands of any transposition and any
 * broadcast of batch dimensions; other dtypes go to the stock kernel.
 *
 * Why (measured by `npm run bench:perf` and wasm-gemm.test.ts):
 * - tfjs 4.22 hands XNNPACK only unbatched, untransposed products; batched
 *   ones (attention's per-head products) fall to a scalar loop at ~2 GFLOP/s,
 *   and transposed ones to a slower path;
 * - XNNPACK repacks every new right-hand operand whole (activations, and
 *   adapted weights that change each step): ~1.7 ms for a [1024, 256]
 *   operand used for an 8-row product;
 * - the 4×8 register-blocked kernel runs at ~60–65 GFLOP/s on one core of
 *   this machine against XNNPACK's ~46 on the step's shapes; it copies B only
 *   panel by panel (K-block × 8 columns, L1-resident) as it goes.
 * Transposed operands cost nothing extra (A is addressed by strides, B's
 * panels are gathered in either layout), so no product needs an explicit
 * transpose. Every product is one sequential fp32 sum per element, whatever
 * the blocking (checked bit for bit in wasm-gemm.test.ts).
 *
 * Where the engine has relaxed SIMD (Chrome ≥ 114, Node ≥ 22, Node 20 with
 * `--experimental-wasm-relaxed-simd`), {@link setWasmGemmFma} switches to the
 * same kernel with each f32x4 multiply-add fused (`f32x4.relaxed_madd`): on
 * hardware with FMA each step rounds once instead of twice, so results differ
 * from the fp32 kernel in the last bits (bounded in wasm-gemm-fma.test.ts).
 * It is off by default: on AMD EPYC (Zen), where separate add and multiply
 * pipes already give mul + add the throughput of FMA, it measured 0.96–1.01×
 * the fp32 kernel's GFLOP/s (`bench/fma.bench.mjs`), and the fp32 kernel gives
 * the same bits on every engine.
 *
 * The module's `rgemm` export is the same product with B read from a frozen
 * weight's bfloat16 or int8 codes ({@link reducedGemmOnHeap}, registered by
 * wasm-reduced-gemm.ts): the codes are converted while B's panels are packed,
 * so it equals this kernel on the decoded weight bit for bit.
 */

/** The parts of tfjs-backend-wasm's `BackendWasm` the kernels use. */
export interface WasmBackendInternals {
  wasm: { asm?: { memory?: unknown }; _malloc(bytes: number): number; _free(pointer: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

/** The arguments both exports end with: C's address, then the blocking (rows per A block, the panel buffer, K block). */
type OutputAndBlocking = [c: number, mc: number, pack: number, kc: number];

type Bgemm = (
  ...args: [g: number, m: number, n: number, k: number, a: number, aBatch: number, aRow: number, aCol: number, b: number, bBatch: number, bRow: number, bCol: number, ...OutputAndBlocking]
) => void;

/** `mode` 1 = bfloat16, 2 = int8 codes; int8 scales at `s`, `sRow` bytes per row of W, blocks of 2^`shift` columns; `wT` 1 when B = Wᵀ. */
type Rgemm = (
  ...args: [
    m: number,
    n: number,
    k: number,
    a: number,
    aRow: number,
    aCol: number,
    b: number,
    bRow: number,
    bCol: number,
    ...OutputAndBlocking,
    mode: number,
    s: number,
    sRow: number,
    shift: number,
    wT: number,
    z: number,
  ]
) => void;

/** One instance's exports: the fp32 product and the one whose B is a reduced-precision weight. */
interface Kernels {
  bgemm: Bgemm;
  rgemm: Rgemm;
}

/** Bytes of A's row block that should stay in L2 (a quarter of a 1 MiB L2, leaving room for B's panel and C). */
const A_BLOCK_BYTES = 256 * 1024;

/** The kernels instantiated per heap: the fp32 one, and the fused one where relaxed SIMD validates. */
const instances = new WeakMap<WebAssembly.Memory, { fp32: Kernels | null; fma: Kernels | null }>();
/** The kernel's panel buffer on the wasm heap (kc × 32 bytes), grown on demand and kept. */
const panels = new WeakMap<WebAssembly.Memory, { pointer: number; bytes: number }>();
let installed = false;
let enabled = true;
let fmaEnabled = false;
/** Whether this engine validates the relaxed-SIMD kernel (checked once: validation is the feature test). */
let fmaSupported: boolean | undefined;

function panelBuffer(backend: WasmBackendInternals, memory: WebAssembly.Memory, bytes: number): number {
  const current = panels.get(memory);
  if (current !== undefined && current.bytes >= bytes) return current.pointer;
  if (current !== undefined) backend.wasm._free(current.pointer);
  const size = Math.max(bytes, 64 * 1024);
  const pointer = backend.wasm._malloc(size);
  panels.set(memory, { pointer, bytes: size });
  return pointer;
}

function heapOf(backend: WasmBackendInternals): WebAssembly.Memory | null {
  const memory = backend.wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** True where the engine has relaxed SIMD, so the fused kernel can run. */
function relaxedSimdSupported(): boolean {
  fmaSupported ??= WebAssembly.validate(gemmFmaBytes);
  return fmaSupported;
}

function instantiate(bytes: Uint8Array<ArrayBuffer>, memory: WebAssembly.Memory): Kernels | null {
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } });
    return { bgemm: exports['bgemm'] as Bgemm, rgemm: exports['rgemm'] as Rgemm };
  } catch {
    return null;
  }
}

/**
 * The kernel instantiated on `memory` (the fused one when it is on and the
 * engine has relaxed SIMD), or null where none can be (no WebAssembly SIMD,
 * or a shared memory from tfjs's threaded build, which the module's import
 * does not declare); instances are kept per memory.
 */
function kernelFor(memory: WebAssembly.Memory): Kernels | null {
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    const fp32 = instantiate(gemmBytes, memory);
    kernels = { fp32, fma: fp32 !== null && relaxedSimdSupported() ? instantiate(gemmFmaBytes, memory) : null };
    instances.set(memory, kernels);
  }
  return (fmaEnabled ? kernels.fma : null) ?? kernels.fp32;
}

const sizeOf = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** Maps a flat index over `outer` to the flat index of the operand with batch shape `own` (broadcast axes pinned to 0). */
function broadcastIndex(outer: readonly number[], own: readonly number[]): (flat: number) => number {
  const offset = outer.length - own.length;
  return (flat) => {
    let index = 0;
    let stride = 1;
    for (let axis = outer.length - 1; axis >= 0; axis--) {
      const size = outer[axis] as number;
      const coordinate = flat % size;
      flat = Math.floor(flat / size);
      const ownSize = axis >= offset ? (own[axis - offset] as number) : 1;
      if (ownSize !== 1) index += coordinate * stride;
      stride *= ownSize;
    }
    return index;
  };
}

/** Inner-dimension block: all of K up to 512, else 256 (B's packed panel, kc × 32 bytes, stays in L1). */
function innerBlock(k: number): number {
  return k <= 512 ? Math.max(k, 1) : 256;
}

/** Rows per block of A: a multiple of 4 with the block's kc columns within {@link A_BLOCK_BYTES}. */
function rowBlock(kc: number): number {
  return Math.max(4, Math.floor(A_BLOCK_BYTES / (4 * kc) / 4) * 4);
}

/** Our product, or null when the operands need the stock kernel. */
function runGemm(inputs: tf.NamedTensorInfoMap, backend: WasmBackendInternals, attrs: { transposeA: boolean; transposeB: boolean }): tf.TensorInfo | null {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (!enabled || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const memory = heapOf(backend);
  const gemm = memory === null ? null : (kernelFor(memory)?.bgemm ?? null);
  const aData = backend.dataIdMap.get(a.dataId);
  const bData = backend.dataIdMap.get(b.dataId);
  if (memory === null || gemm === null || aData === undefined || bData === undefined) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const [batchA, batchB] = [sizeOf(outerA), sizeOf(outerB)];
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, kA] = attrs.transposeA ? [ac, ar] : [ar, ac];
  const [k, n] = attrs.transposeB ? [bc, br] : [br, bc];
  if (kA !== k) return null; // the stock kernel reports the shape error
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = sizeOf(outer);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  if (batch * m * n === 0) return out;
  const cOffset = (backend.dataIdMap.get(out.dataId) as { memoryOffset: number }).memoryOffset;
  const kc = innerBlock(k);
  const pack = panelBuffer(backend, memory, 32 * kc);
  const [aRow, aCol] = attrs.transposeA ? [4, 4 * m] : [4 * k, 4];
  const [bRow, bCol] = attrs.transposeB ? [4, 4 * k] : [4 * n, 4];
  const run = (g: number, aAt: number, aBatch: number, bAt: number, bBatch: number, cAt: number) => gemm(g, m, n, k, aAt, aBatch, aRow, aCol, bAt, bBatch, bRow, bCol, cAt, rowBlock(kc), pack, kc);
  const [aBytes, bBytes, cBytes] = [4 * m * k, 4 * k * n, 4 * m * n];
  if (batchA === batch && batchB === batch) run(batch, aData.memoryOffset, aBytes, bData.memoryOffset, bBytes, cOffset);
  else if (batchA === 1 || batchB === 1) run(batch, aData.memoryOffset, batchA === 1 ? 0 : aBytes, bData.memoryOffset, batchB === 1 ? 0 : bBytes, cOffset);
  else {
    // general broadcast ([2, 1] against [1, 3]): one call per output matrix
    const aIndex = broadcastIndex(outer, outerA);
    const bIndex = broadcastIndex(outer, outerB);
    for (let g = 0; g < batch; g++) run(1, aData.memoryOffset + aIndex(g) * aBytes, 0, bData.memoryOffset + bIndex(g) * bBytes, 0, cOffset + g * cBytes);
  }
  return out;
}

/** A reduced-precision weight W [rows, cols] as {@link reducedGemmOnHeap} reads it (see core's `EncodedWeight`). */
export interface ReducedGemmWeight {
  dtype: 'bfloat16' | 'int8';
  rows: number;
  cols: number;
  /** int8: columns per scale block (a power of two); bfloat16: null. */
  blockSize: number | null;
  /** int8: 4 when two 4-bit codes share a byte, else 8; bfloat16: 16. */
  bits: 4 | 8 | 16;
}

/** Where a reduced weight's scales and (int8, optional) zero points are on the heap. */
export interface ReducedGemmBlocks {
  scales: tf.TensorInfo | null;
  zeroPoints: tf.TensorInfo | null;
}

/**
 * x·Wᵀ (`transposeW`) or x·W for x float32 [n, k] and W's codes (and int8
 * scales) on the heap, by the `rgemm` export: the same blocking and the same
 * tiles as the fp32 product, with W's codes converted while B's panels are
 * packed, so the result equals the fp32 kernel on the decoded W bit for bit.
 * Null where the kernel cannot run (then the caller decodes W instead).
 */
export function reducedGemmOnHeap(backend: WasmBackendInternals, x: tf.TensorInfo, codes: tf.TensorInfo, blocks: ReducedGemmBlocks, w: ReducedGemmWeight, transposeW: boolean): tf.TensorInfo | null {
  const { scales, zeroPoints } = blocks;
  if (!enabled || x.dtype !== 'float32' || x.shape.length !== 2) return null;
  const memory = heapOf(backend);
  const gemm = memory === null ? null : (kernelFor(memory)?.rgemm ?? null);
  const xData = backend.dataIdMap.get(x.dataId);
  const codeData = backend.dataIdMap.get(codes.dataId);
  const scaleData = scales === null ? undefined : backend.dataIdMap.get(scales.dataId);
  const zeroData = zeroPoints === null ? undefined : backend.dataIdMap.get(zeroPoints.dataId);
  if (memory === null || gemm === null || xData === undefined || codeData === undefined || (scales !== null && scaleData === undefined) || (zeroPoints !== null && zeroData === undefined)) return null;
  const [m, k] = x.shape as [number, number];
  const [kW, n] = transposeW ? [w.cols, w.rows] : [w.rows, w.cols];
  if (k !== kW) return null;
  const out = backend.makeOutput([m, n], 'float32');
  if (m * n === 0) return out;
  const cOffset = (backend.dataIdMap.get(out.dataId) as { memoryOffset: number }).memoryOffset;
  const kc = innerBlock(k);
  const pack = panelBuffer(backend, memory, 32 * kc);
  // strides in bytes of codes, or in codes (elements) for 4-bit codes, which the kernel addresses by element
  const size = w.dtype === 'bfloat16' ? 2 : 1;
  // B = Wᵀ: B[p, j] = W[j, p], contiguous along p; B = W: B[p, j] = W[p, j]
  const [bRow, bCol] = transposeW ? [size, size * w.cols] : [size * w.cols, size];
  const mode = w.dtype === 'bfloat16' ? 1 : w.bits === 4 ? 4 : zeroData === undefined ? 2 : 3;
  const blockSize = w.blockSize ?? 1;
  const sRow = 4 * Math.ceil(w.cols / blockSize);
  gemm(
    m,
    n,
    k,
    xData.memoryOffset,
    4 * k,
    4,
    codeData.memoryOffset,
    bRow,
    bCol,
    cOffset,
    rowBlock(kc),
    pack,
    kc,
    mode,
    scaleData?.memoryOffset ?? 0,
    sRow,
    Math.log2(blockSize),
    transposeW ? 1 : 0,
    zeroData?.memoryOffset ?? 0,
  );
  return out;
}

/**
 * Installs the kernel as wasm's `BatchMatMul` (once; the stock kernel stays
 * the fallback). Returns false, changing nothing, where the backend's heap is
 * not reachable or WebAssembly SIMD is missing. Called by `setupBackend`.
 */
export function installWasmGemm(): boolean {
  if (installed) return true;
  if (tf.getBackend() !== 'wasm') return false;
  const memory = heapOf(tf.backend() as unknown as WasmBackendInternals);
  if (memory === null || kernelFor(memory) === null) return false; // the stock kernel stays
  installed = overrideWasmKernel<WasmBackendInternals>('BatchMatMul', ({ inputs, attrs, backend }) => runGemm(inputs, backend, attrs as unknown as { transposeA: boolean; transposeB: boolean }));
  return installed;
}

/** True when wasm's `BatchMatMul` runs on our kernel (installed and enabled). */
export function wasmGemmActive(): boolean {
  return enabled && installed && tf.getBackend() === 'wasm';
}

/**
 * Routes wasm's `BatchMatMul` back to the stock kernel (`false`) or to ours
 * again (`true`); for comparisons in tests and benches.
 */
export function setWasmGemmEnabled(on: boolean): void {
  enabled = on;
}

/**
 * Lets our kernel fuse its multiply-adds with relaxed SIMD's
 * `f32x4.relaxed_madd` where the engine supports it (`true`), or keeps the
 * fp32 kernel, each step rounded twice (`false`, the default: the same bits
 * on every engine and machine). Fusing pays on CPUs whose FMA units are also
 * their only add and multiply units; measure with `bench/fma.bench.mjs`.
 */
export function setWasmGemmFma(on: boolean): void {
  fmaEnabled = on;
}

/** True when wasm's `BatchMatMul` runs on our fused (relaxed-SIMD FMA) kernel. */
export function wasmGemmFmaActive(): boolean {
  return wasmGemmActive() && fmaEnabled && relaxedSimdSupported();
}
