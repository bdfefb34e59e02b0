/**
 * A minimal WebAssembly module writer for the library's SIMD kernels (the
 * SVD's in core, the training matmuls in @tsd-peft/tfjs): kernels are written
 * as instruction lists and assembled at load time, so no binary blob and no
 * build step ship. Encodings follow the WebAssembly core spec §5 (binary
 * format) and the fixed-width SIMD proposal.
 */

/** Value types (core spec §5.3.1). */
export const WASM_TYPE = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;

/** Opcodes used by the kernels (core spec §5.4; SIMD ones follow the 0xfd prefix). */
export const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f32Load: 0x2a,
  f64Load: 0x2b,
  f32Store: 0x38,
  f64Store: 0x39,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  f32Add: 0x92,
  f32Mul: 0x94,
  f64Add: 0xa0,
  simd: 0xfd,
} as const;

/** Unsigned LEB128 (counts, indices, alignments, offsets). */
export function leb128(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128, as `i32.const` immediates are encoded. */
export function sleb128(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** Instruction helpers shared by the kernels. */
export const wasm = {
  get: (local: number): number[] => [OP.localGet, ...leb128(local)],
  set: (local: number): number[] => [OP.localSet, ...leb128(local)],
  i32: (value: number): number[] => [OP.i32Const, ...sleb128(value)],
  /** A SIMD instruction by its opcode, e.g. `simd(0xe4)` for f32x4.add. */
  simd: (opcode: number, ...immediates: number[]): number[] => [OP.simd, ...leb128(opcode), ...immediates],
};

/** One exported function: all parameters are i32; locals are declared as (count, type) runs. */
export interface WasmFunction {
  name: string;
  params: number;
  locals: ReadonlyArray<readonly [count: number, type: number]>;
  body: readonly number[];
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb128(body.length), ...body];
}

function utf8Name(s: string): number[] {
  return [...leb128(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
}

/**
 * The bytes of a module that imports one memory as `env.mem` (at least one
 * page, no maximum, so any non-shared memory can be passed in) and exports
 * `functions`, each returning nothing.
 */
export function assembleWasmModule(functions: readonly WasmFunction[]): Uint8Array<ArrayBuffer> {
  const types: number[] = [...leb128(functions.length)];
  const funcs: number[] = [...leb128(functions.length)];
  const exports: number[] = [...leb128(functions.length)];
  const codes: number[] = [...leb128(functions.length)];
  functions.forEach((fn, index) => {
    types.push(0x60, ...leb128(fn.params), ...new Array<number>(fn.params).fill(WASM_TYPE.i32), 0);
    funcs.push(...leb128(index));
    exports.push(...utf8Name(fn.name), 0x00, ...leb128(index));
    const body = [...leb128(fn.locals.length), ...fn.locals.flatMap(([count, type]) => [...leb128(count), type]), ...fn.body];
    codes.push(...leb128(body.length), ...body);
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, [1, ...utf8Name('env'), ...utf8Name('mem'), 0x02, 0x00, 0x01]),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, codes),
  ]);
}
