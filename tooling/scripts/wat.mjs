// Turns the WebAssembly text-format kernels (`*.wat` beside the TypeScript that
// runs them) into ES modules whose default export is the assembled bytes, with
// wabt (the WebAssembly Binary Toolkit compiled to JavaScript; a devDependency,
// so nothing of it ships). One assembler for every consumer of the sources:
// tsup's builds (the bytes land inside dist/), vitest, and the esbuild bundles
// of the tests, benches and demo.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import wabtInit from 'wabt';

/** Proposals the kernels may use: fixed-width SIMD, and relaxed SIMD for the FMA kernel (loaded only where the engine validates it). */
const FEATURES = { simd: true, relaxed_simd: true };

/** @type {Promise<Awaited<ReturnType<typeof wabtInit>>> | undefined} */
let wabt;

/** The module bytes of the text-format source `text` (read from `path`, named in errors). */
export async function assembleWat(path, text) {
  wabt ??= wabtInit();
  const tools = await wabt;
  let module;
  try {
    module = tools.parseWat(basename(path), text, FEATURES);
    module.resolveNames();
    module.validate();
    return Uint8Array.from(module.toBinary({ canonicalize_lebs: true, write_debug_names: false }).buffer);
  } catch (error) {
    throw new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    module?.destroy();
  }
}

/** ES module source exporting the bytes assembled from the `.wat` file at `path`. */
export async function watModuleSource(path) {
  const bytes = await assembleWat(path, await readFile(path, 'utf8'));
  return `// Assembled from ${basename(path)} by wabt at build time.\nexport default new Uint8Array([${bytes.join(',')}]);\n`;
}

/** esbuild plugin (tsup's `esbuildPlugins`, bundle-sources.mjs): `import bytes from './x.wat'`. */
export const watPlugin = {
  name: 'tsd-peft-wat',
  setup(build) {
    build.onLoad({ filter: /\.wat$/ }, async (args) => ({ contents: await watModuleSource(args.path), loader: 'js' }));
  },
};

/** Vite plugin (vitest.config.ts): the same modules for tests run from sources. */
export function watVitePlugin() {
  return {
    name: 'tsd-peft-wat',
    enforce: 'pre',
    async load(id) {
      const path = id.split('?')[0];
      return path.endsWith('.wat') ? watModuleSource(path) : null;
    },
  };
}
