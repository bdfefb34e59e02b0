/**
 * Bundles a worker entry from the TypeScript sources for the tests (worker
 * threads cannot use vitest's `@tsd-peft/*` aliases; see
 * tooling/scripts/bundle-sources.mjs, shared with the perf bench). The bundle
 * is written under the repository's ignored `.tmp/` so that Node resolves the
 * external TF.js/transformers.js packages from the root `node_modules`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleNodeEntry } from '../../../../../tooling/scripts/bundle-sources.mjs';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

/** Bundles `entry` (an absolute path to a .ts file) into an .mjs file and returns its path. */
export async function bundleWorkerEntry(entry: string, name: string): Promise<string> {
  const dir = join(repoRoot, '.tmp', 'worker-bundles');
  mkdirSync(dir, { recursive: true });
  return bundleNodeEntry(entry, join(dir, `${name}-${process.pid}-${Date.now().toString(36)}.mjs`));
}
