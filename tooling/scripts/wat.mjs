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

/**
 * Build-time variants of a kernel source, picked by the import's query
 * (`import bytes from './k.wat?relaxed-madd'`), so one readable source serves
 * both kernels.
 *
 * `relaxed-madd`: every f32x4 multiply-add written
 * `(f32x4.add (local.get $acc) (f32x4.mul (local.get $x) (local.get $y)))`
 * becomes `(f32x4.relaxed_madd (local.get $x) (local.get $y) (local.get $acc))`
 * (relaxed SIMD: fused, one rounding, where the hardware has FMA; the same two
 * roundings elsewhere). Scalar code is untouched.
 */
const VARIANTS = {
  'relaxed-madd': (text) => text.replace(/\(f32x4\.add\s+(\(local\.get \$\w+\))\s+\(f32x4\.mul\s+(\(local\.get \$\w+\))\s+(\(local\.get \$\w+\))\)\)/g, '(f32x4.relaxed_madd $2 $3 $1)'),
};

/** The source of `path` as the variant named by `query` ('' or '?<variant>') sees it. */
async function variantText(path, query) {
  const text = await readFile(path, 'utf8');
  if (query === '') return text;
  const name = query.replace(/^\?/, '');
  const variant = VARIANTS[name];
  if (variant === undefined) throw new Error(`${path}: unknown variant '${name}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  const changed = variant(text);
  if (changed === text) throw new Error(`${path}: variant '${name}' changes nothing`);
  return changed;
}

/** ES module source exporting the bytes assembled from the `.wat` file at `path` (as variant `query`, e.g. '?relaxed-madd'). */
export async function watModuleSource(path, query = '') {
  const bytes = await assembleWat(path, await variantText(path, query));
  return `// Assembled from ${basename(path)}${query} by wabt at build time.\nexport default new Uint8Array([${bytes.join(',')}]);\n`;
}

/** esbuild plugin (tsup's `esbuildPlugins`, bundle-sources.mjs): `import bytes from './x.wat'`. */
export const watPlugin = {
  name: 'tsd-peft-wat',
  setup(build) {
    build.onLoad({ filter: /\.wat$/ }, async (args) => ({ contents: await watModuleSource(args.path, args.suffix ?? ''), loader: 'js' }));
  },
};

/** Vite plugin (vitest.config.ts): the same modules for tests run from sources. */
export function watVitePlugin() {
  return {
    name: 'tsd-peft-wat',
    enforce: 'pre',
    async load(id) {
      const [path = '', query] = id.split('?');
      return path.endsWith('.wat') ? watModuleSource(path, query === undefined ? '' : `?${query}`) : null;
    },
  };
}
