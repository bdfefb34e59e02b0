import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleWat, watModuleSource } from '../tooling/scripts/wat.mjs';

/** The build-time assembler of the `.wat` kernels (tooling/scripts/wat.mjs), used by tsup, vitest and the source bundles. */
describe('wat assembler', () => {
  it('assembles SIMD text into a module the engine validates and runs', async () => {
    const bytes = await assembleWat(
      'add.wat',
      `(module (import "env" "mem" (memory 1))
         (func (export "add") (param $a i32) (param $out i32)
           (v128.store (local.get $out) (f32x4.add (v128.load (local.get $a)) (v128.load offset=16 (local.get $a))))))`,
    );
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { add } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } }).exports as { add: (a: number, out: number) => void };
    new Float32Array(memory.buffer).set([1, 2, 3, 4, 10, 20, 30, 40]);
    add(0, 32);
    expect([...new Float32Array(memory.buffer, 32, 4)]).toEqual([11, 22, 33, 44]);
  });

  it('names the file and the line of a mistake', async () => {
    await expect(assembleWat('/src/broken.wat', '(module\n  (func (f32x4.nonsense)))')).rejects.toThrow(/broken\.wat.*2:/s);
  });

  it('turns a kernel source into a module exporting its bytes', async () => {
    const source = await watModuleSource(join(resolve(import.meta.dirname, '..'), 'packages/tfjs/src/backend/wasm-gemm.wat'));
    const bytes = JSON.parse(/new Uint8Array\((\[[\d,]+\])\)/.exec(source)?.[1] ?? '[]') as number[];
    expect(bytes.slice(0, 4)).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(WebAssembly.validate(Uint8Array.from(bytes))).toBe(true);
  });

  it("builds the '?relaxed-madd' variant: every f32x4 multiply-add fused, nothing else touched", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wat-'));
    try {
      const file = join(dir, 'madd.wat');
      writeFileSync(
        file,
        `(module (func (param $acc v128) (param $x v128) (param $y v128) (result v128)
           (f32x4.add (local.get $acc) (f32x4.mul (local.get $x) (local.get $y)))))`,
      );
      const hex = async (query: string) => Buffer.from(JSON.parse(/(\[[\d,]+\])/.exec(await watModuleSource(file, query))?.[1] ?? '[]') as number[]).toString('hex');
      const [plain, fused] = [await hex(''), await hex('?relaxed-madd')];
      expect(plain).toContain('fde601fde401'); // f32x4.mul, f32x4.add
      // local.get $x, local.get $y, local.get $acc, f32x4.relaxed_madd (0xfd 0x105)
      expect(fused).toContain('200120022000fd8502');
      expect(fused).not.toContain('fde601');
      await expect(watModuleSource(file, '?fast-math')).rejects.toThrow(/unknown variant 'fast-math'/);
      writeFileSync(file, '(module)');
      await expect(watModuleSource(file, '?relaxed-madd')).rejects.toThrow(/changes nothing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
