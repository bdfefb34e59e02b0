/**
 * Bundles a worker entry from the TypeScript sources for the tests: worker
 * threads cannot use vitest's `@tsd-peft/*` aliases or transform TypeScript,
 * and dist/ may be stale. TF.js and transformers.js stay external, so the
 * worker loads the same installed packages (and wasm binaries) as the rest of
 * the process; the bundle is written under the repository's ignored `.tmp/`
 * so that Node resolves those packages from the root `node_modules`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packagesDir = fileURLToPath(new URL('../../../../', import.meta.url));
const repoRoot = join(packagesDir, '..');

/** Bundles `entry` (an absolute path to a .ts file) into an .mjs file and returns its path. */
export async function bundleWorkerEntry(entry: string, name: string): Promise<string> {
  const dir = join(repoRoot, '.tmp', 'worker-bundles');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${name}-${process.pid}-${Date.now().toString(36)}.mjs`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@tensorflow/*', '@huggingface/*', 'onnxruntime-*', 'sharp'],
    logLevel: 'error',
    plugins: [
      {
        name: 'tsd-peft-sources',
        setup(b) {
          b.onResolve({ filter: /^@tsd-peft\/(core|tfjs|transformers)(\/node)?$/ }, (args) => {
            const [, pkg, node] = /^@tsd-peft\/(\w+)(\/node)?$/.exec(args.path) as RegExpExecArray;
            return { path: join(packagesDir, pkg as string, 'src', node === undefined ? 'index.ts' : 'node/index.ts') };
          });
        },
      },
    ],
  });
  return outfile;
}
