// Bundles the perf bench's TypeScript entries (perf.run.ts, perf.worker.ts,
// perf.profile.ts) from the package sources (tooling/scripts/bundle-sources.mjs),
// into the repository's ignored .tmp/perf/ folder so that Node resolves TF.js
// from the root node_modules. Sources, not dist/: the bench measures the working tree.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleNodeEntry } from '../../../tooling/scripts/bundle-sources.mjs';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const benchDir = fileURLToPath(new URL('./', import.meta.url));

/** Bundles each entry name (e.g. 'perf.run') and returns name → .mjs path. */
export async function bundlePerfEntries(names) {
  const outDir = join(repoRoot, '.tmp', 'perf');
  mkdirSync(outDir, { recursive: true });
  const out = {};
  for (const name of names) out[name] = await bundleNodeEntry(join(benchDir, `${name}.ts`), join(outDir, `${name}.mjs`));
  return out;
}
