// Bundles the demo page into dist/: main.js (esbuild, browser ESM), index.html
// and tfjs's wasm binaries. `node build.mjs [outDir]`, or import { buildDemo }.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { watPlugin } from '../../tooling/scripts/wat.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const packages = resolve(here, '../../packages');

/**
 * The monorepo's package sources, as the tests use them (no stale dist/), with
 * tfjs's `#platform` import on its browser branch (what package.json's
 * `browser` condition picks for the published package).
 */
const monorepoSources = {
  name: 'tsd-peft-sources',
  setup(b) {
    b.onResolve({ filter: /^@tsd-peft\/transformers\/browser$/ }, () => ({ path: join(packages, 'transformers/src/browser.ts') }));
    b.onResolve({ filter: /^@tsd-peft\/(core|tfjs)$/ }, (args) => ({ path: join(packages, args.path.slice('@tsd-peft/'.length), 'src/index.ts') }));
    b.onResolve({ filter: /^#platform$/ }, () => ({ path: join(packages, 'tfjs/src/platform/browser.ts') }));
  },
};

/** Builds the page into `outDir` (default `dist/`) and returns that folder. */
export async function buildDemo(outDir = join(here, 'dist')) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src/main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [monorepoSources, watPlugin],
  });
  copyFileSync(join(here, 'index.html'), join(outDir, 'index.html'));
  const require = createRequire(import.meta.url);
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  for (const f of readdirSync(wasmDir)) if (f.endsWith('.wasm')) copyFileSync(join(wasmDir, f), join(outDir, f));
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildDemo(process.argv[2]);
  console.log(`built ${out}`);
}
