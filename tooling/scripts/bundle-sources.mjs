// Bundles a TypeScript entry for plain Node (worker threads, child processes,
// benches) from the monorepo's package sources with esbuild: such processes
// cannot use vitest's `@tsd-peft/*` aliases or transform TypeScript, and dist/
// may be stale. One helper for the tfjs/transformers worker tests and the
// transformers perf bench, so they resolve packages the same way.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { watPlugin } from './wat.mjs';

/** The monorepo's packages/ folder. */
const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url));

/** Installed packages that stay external: the bundle loads the same copies (and wasm binaries) as the rest of the repo. */
export const INSTALLED_EXTERNALS = ['@tensorflow/*', '@huggingface/*', 'onnxruntime-*', 'sharp'];

/** An esbuild plugin resolving `@tsd-peft/{core,tfjs,transformers}[/node]` to packages/<pkg>/src, with their `.wat` kernels assembled. */
export const tsdPeftSources = {
  name: 'tsd-peft-sources',
  setup(b) {
    b.onResolve({ filter: /^@tsd-peft\/(core|tfjs|transformers)(\/node)?$/ }, (args) => {
      const [, pkg, node] = /^@tsd-peft\/(\w+)(\/node)?$/.exec(args.path);
      return { path: join(packagesDir, pkg, 'src', node === undefined ? 'index.ts' : 'node/index.ts') };
    });
    watPlugin.setup(b);
  },
};

/**
 * Bundles `entry` (an absolute .ts path) into the ESM file `outfile` for Node
 * 20, with TF.js, transformers.js and onnxruntime left external. Write it under
 * the repository (e.g. the ignored `.tmp/`) so Node resolves those from the
 * root node_modules.
 */
export async function bundleNodeEntry(entry, outfile) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: INSTALLED_EXTERNALS,
    logLevel: 'error',
    plugins: [tsdPeftSources],
  });
  return outfile;
}
