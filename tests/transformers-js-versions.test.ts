import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixturePath, fixturesDir } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `adapterPipeline` against each supported major of transformers.js, as a
 * user has it: the packed packages installed into a fresh consumer beside one
 * `@huggingface/transformers` version from npm (no --legacy-peer-deps, so the
 * peer range must admit it), then `transformers-js-consumer.mjs` run there.
 */
const repo = resolve(import.meta.dirname, '..');
const VERSIONS = ['3.8.1', '4.3.2'] as const;
const work = mkdtempSync(join(tmpdir(), 'tsd-tjs-versions-'));
let tarballs: string[] = [];
const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' },
  });

interface VariantResult {
  baseBitIdentical: boolean;
  baseBitIdenticalAfterNull: boolean;
  batchRow0EqualsSingle: boolean;
  streamed: string;
  vsPeftMerged?: number;
  changedByAdapter?: number;
}

beforeAll(() => {
  for (const dir of ['packages/core', 'packages/tfjs', 'packages/transformers']) {
    if (!existsSync(join(repo, dir, 'dist', 'index.js'))) throw new Error(`${dir}/dist is missing: run \`npm run build\``);
  }
  fixturePath('reference', 'onnx', 'stories260K', 'onnx', 'model_q4.onnx'); // fails loudly when the fixtures are missing
  tarballs = ['packages/core', 'packages/tfjs', 'packages/transformers'].map((dir) => {
    const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], join(repo, dir))) as [{ filename: string }];
    return join(work, info.filename);
  });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(VERSIONS)('adapterPipeline with @huggingface/transformers %s in a consumer project', (version) => {
  it('switches peft-lora on stories260K fp32 and q4: base bit for bit, PEFT merged within 2e-3, batch, KV cache and streamer', () => {
    const consumer = join(work, `consumer-${version}`);
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // --ignore-scripts: onnxruntime-node's install script only fetches GPU libraries; the CPU binary is in the package.
    npm(
      [
        'install',
        '--prefer-offline',
        '--no-package-lock',
        '--ignore-scripts',
        ...tarballs,
        `@huggingface/transformers@${version}`,
        '@tensorflow/tfjs-core@^4.22.0',
        '@tensorflow/tfjs-backend-cpu@^4.22.0',
        '@tensorflow/tfjs-backend-wasm@^4.22.0',
      ],
      consumer,
    );
    copyFileSync(join(repo, 'tests', 'transformers-js-consumer.mjs'), join(consumer, 'check.mjs'));
    const out = execFileSync('node', ['check.mjs'], { cwd: consumer, encoding: 'utf8', env: { ...process.env, TSD_FIXTURES_DIR: fixturesDir() } });
    const result = JSON.parse(out.slice(out.indexOf('{'))) as { transformersJs: string; fp32: VariantResult; q4: VariantResult };
    console.info(`transformers.js ${result.transformersJs}: ${JSON.stringify(result)}`);
    expect(result.transformersJs).toBe(version);
    for (const r of [result.fp32, result.q4]) {
      expect(r.baseBitIdentical).toBe(true);
      expect(r.baseBitIdenticalAfterNull).toBe(true);
      expect(r.batchRow0EqualsSingle).toBe(true);
      expect(r.streamed.length).toBeGreaterThan(0);
    }
    // The PEFT fixtures' tolerance for merged logits (reference/README.md).
    expect(result.fp32.vsPeftMerged).toBeLessThan(2e-3);
    expect(result.q4.changedByAdapter).toBeGreaterThan(1);
  }, 600_000);
});
