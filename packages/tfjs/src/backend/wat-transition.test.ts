import { expect, it } from 'vitest';
import { assembleKernels } from '../../../core/src/svd-wasm-assembly.js';
import svdFromText from '../../../core/src/svd-wasm-kernels.wat';
import gemmFromText from './wasm-gemm.wat';
import { assembleGemmModule } from './wasm-gemm-assembly.js';

/*
 * Transition check (removed with the opcode-array assemblers): the `.wat`
 * sources assemble to the same function bodies, exports and imports as the
 * instruction lists they replace, so every result is bit-identical and the
 * engine compiles the same code. Only the SVD module's type section differs:
 * wabt writes its three identical signatures once.
 */

/** Section id → contents (hex), per the binary format's section layout (core spec §5.5.2). */
function sections(bytes: Uint8Array): Map<number, string> {
  const out = new Map<number, string>();
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++] as number;
    let size = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = bytes[at++] as number;
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    out.set(id, Buffer.from(bytes.subarray(at, at + size)).toString('hex'));
    at += size;
  }
  return out;
}

it('the .wat kernels assemble to the opcode-array kernels’ code, exports and imports', () => {
  for (const [text, lists] of [[svdFromText, assembleKernels()], [gemmFromText, assembleGemmModule()]] as const) {
    const [fromText, fromLists] = [sections(text), sections(lists)];
    for (const id of [2, 7, 10]) expect(fromText.get(id), `section ${id}`).toBe(fromLists.get(id));
  }
  expect(Buffer.from(gemmFromText).equals(Buffer.from(assembleGemmModule()))).toBe(true);
});
