import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const repo = resolve(import.meta.dirname, '..');
/** The published packages, packed and installed by {@link installPackedConsumer}. */
export const PUBLISHED = ['packages/core', 'packages/tfjs', 'packages/transformers'];

/**
 * Packs the published packages (`npm pack`, so exactly what `files` ships)
 * into `work` and installs the tarballs — and nothing else — into a fresh
 * consumer project `work/consumer`, offline. Third-party peers are not
 * installed: bundles keep them external or resolve them from the repo's
 * node_modules. Returns the consumer folder.
 */
export function installPackedConsumer(work: string): string {
  for (const dir of PUBLISHED) {
    if (!existsSync(join(repo, dir, 'dist', 'index.js'))) throw new Error(`${dir}/dist is missing: run \`npm run build\` (npm test builds first)`);
  }
  const tarballs = PUBLISHED.map((dir) => {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: join(repo, dir), encoding: 'utf8' });
    const [info] = JSON.parse(out) as [{ filename: string }];
    return join(work, info.filename);
  });
  const consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'browser-consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-package-lock', '--legacy-peer-deps', '--ignore-scripts', ...tarballs], {
    cwd: consumer,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
  });
  return consumer;
}
