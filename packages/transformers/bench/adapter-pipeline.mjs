// adapterPipeline's cost against a plain transformers.js pipeline (`npm run bench:adapter-pipeline`):
// load time and ms per generated token with no adapter, with an adapter, and with a batch of 4, side by
// side in one run (best of BENCH_REPEATS interleaved runs, default 5; BENCH_TOKENS new tokens, default 48).
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleNodeEntry } from '../../../tooling/scripts/bundle-sources.mjs';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const out = await bundleNodeEntry(fileURLToPath(new URL('./adapter-pipeline.run.ts', import.meta.url)), join(repoRoot, '.tmp', 'bench', 'adapter-pipeline.run.mjs'));
process.chdir(repoRoot);
await import(pathToFileURL(out).href);
