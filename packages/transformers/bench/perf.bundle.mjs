// Bundles the perf bench's TypeScript entries (perf.run.ts, perf.worker.ts,
// perf.profile.ts) from the package sources with esbuild, into the
// repository's ignored .tmp/perf/ folder so that Node resolves TF.js from the
// root node_modules. Sources, not dist/: the bench measures the working tree.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packagesDir = fileURLToPath(new URL('../../', import.meta.url));
const benchDir = fileURLToPath(new URL('./', import.meta.url));

/** Bundles each entry name (e.g. 'perf.run') and returns name → .mjs path. */
export async function bundlePerfEntries(names) {
  const outDir = join(packagesDir, '..', '.tmp', 'perf');
  mkdirSync(outDir, { recursive: true });
  const out = {};
  for (const name of names) {
    const outfile = join(outDir, `${name}.mjs`);
    await build({
      entryPoints: [join(benchDir, `${name}.ts`)],
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
              const [, pkg, node] = /^@tsd-peft\/(\w+)(\/node)?$/.exec(args.path);
              return { path: join(packagesDir, pkg, 'src', node === undefined ? 'index.ts' : 'node/index.ts') };
            });
          },
        },
      ],
    });
    out[name] = outfile;
  }
  return out;
}
