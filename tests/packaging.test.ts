import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Proof that users can install individual packages: pack each publishable
 * package, install the tarballs into a fresh consumer project (third-party
 * dependencies from the npm cache where possible), then import, type-check and
 * run the bins.
 */
const repo = resolve(import.meta.dirname, '..');
const packages = [
  { dir: 'packages/core', name: '@tsd-peft/core', entries: ['@tsd-peft/core', '@tsd-peft/core/node', '@tsd-peft/core/testing'], bins: [] },
  { dir: 'packages/tfjs', name: '@tsd-peft/tfjs', entries: ['@tsd-peft/tfjs', '@tsd-peft/tfjs/layers', '@tsd-peft/tfjs/node'], bins: [] },
  { dir: 'packages/transformers', name: '@tsd-peft/transformers', entries: ['@tsd-peft/transformers', '@tsd-peft/transformers/browser', '@tsd-peft/transformers/internal'], bins: ['tsd-peft'] },
  { dir: 'apps/bench', name: '@tsd-peft/bench', entries: ['@tsd-peft/bench'], bins: ['tsd-bench'] },
];

const work = mkdtempSync(join(tmpdir(), 'tsd-pack-'));
const consumer = join(work, 'consumer');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // The consumer is a plain user project without our .npmrc.
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' },
  });

describe('published packages', () => {
  beforeAll(() => {
    for (const { dir } of packages) {
      if (!existsSync(join(repo, dir, 'dist', 'index.js'))) {
        throw new Error(`${dir}/dist is missing: run \`npm run build\` (npm test builds first)`);
      }
    }
    const tarballs = packages.map(({ dir }) => {
      const out = npm(['pack', '--json', '--pack-destination', work], join(repo, dir));
      const [info] = JSON.parse(out) as [{ filename: string }];
      return join(work, info.filename);
    });
    mkdirSync(consumer);
    // A TypeScript consumer declares @types/node; pinning the repo's locked version keeps
    // transitive `@types/node: >=13` ranges (protobufjs) on a version the npm cache holds.
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    const typesNode = lock.packages['node_modules/@types/node']?.version;
    // The optional peer of @tsd-peft/tfjs/layers, which a Keras-model user has installed.
    const tfjsLayers = lock.packages['node_modules/@tensorflow/tfjs-layers']?.version;
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { '@tensorflow/tfjs-layers': tfjsLayers }, devDependencies: { '@types/node': typesNode } }, null, 2),
    );
    // Our packages come from the tarballs only. Third-party ones come from the npm cache that
    // `npm ci` filled; --prefer-offline (not --offline) because `npm ci` caches tarballs but not
    // the registry metadata a lock-free install resolves against, which a fresh machine lacks.
    npm(['install', '--prefer-offline', '--no-package-lock', ...tarballs], consumer);
  }, 600_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each(packages)('`npm publish --dry-run` of $name is clean: no warnings, bins kept, LICENSE and README packed', ({ dir, bins }) => {
    const manifest = JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    // A dummy token for the configured registry stands in for `npm login`, whose absence is itself a
    // warning; --dry-run sends nothing.
    const registry = npm(['config', 'get', 'registry'], repo)
      .trim()
      .replace(/^https?:/, '')
      .replace(/\/?$/, '/');
    const result = spawnSync('npm', ['publish', '--dry-run', '--json', `--${registry}:_authToken=dry-run`], {
      cwd: join(repo, dir),
      encoding: 'utf8',
      env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr.split('\n').filter((line) => /^npm warn/i.test(line))).toEqual([]);
    const [report] = Object.values(JSON.parse(result.stdout) as Record<string, { files: { path: string }[] }>);
    const packed = new Set(report?.files.map((f) => f.path));
    expect(packed.has('LICENSE') && packed.has('README.md'), [...packed].join(', ')).toBe(true);
    expect(Object.keys(manifest.bin ?? {})).toEqual(bins);
    for (const target of Object.values(manifest.bin ?? {})) expect(packed.has(target), `bin ${target} is packed`).toBe(true);
  });

  it('tarballs hold dist, bin stubs, README and LICENSE only, with exports that resolve', () => {
    for (const { name } of packages) {
      const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules', name, 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; import: string }>;
      };
      for (const target of Object.values(manifest.exports)) {
        expect(existsSync(join(consumer, 'node_modules', name, target.import)), `${name} ${target.import}`).toBe(true);
        expect(existsSync(join(consumer, 'node_modules', name, target.types)), `${name} ${target.types}`).toBe(true);
      }
      expect(existsSync(join(consumer, 'node_modules', name, 'src')), `${name} ships no src/`).toBe(false);
      expect(existsSync(join(consumer, 'node_modules', name, 'LICENSE')), `${name} ships its LICENSE`).toBe(true);
    }
  });

  it('imports every entry point from Node ESM', () => {
    const entries = packages.flatMap((p) => p.entries);
    const script = entries.map((e, i) => `import * as m${i} from '${e}'; if (Object.keys(m${i}).length === 0) throw new Error('${e} exports nothing');`).join('\n');
    writeFileSync(join(consumer, 'imports.mjs'), `${script}\nconsole.log('ok');\n`);
    const out = execFileSync(process.execPath, ['imports.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(out.trim()).toBe('ok');
  });

  it('type-checks a consumer against the published .d.ts', () => {
    writeFileSync(
      join(consumer, 'consumer.ts'),
      [
        "import { TsdError, Rng, matmul, matrix, type Matrix } from '@tsd-peft/core';",
        "import * as coreNode from '@tsd-peft/core/node';",
        "import { fixturesDir } from '@tsd-peft/core/testing';",
        "import type { LinearProvider, TrainableModel } from '@tsd-peft/tfjs';",
        "import * as transformers from '@tsd-peft/transformers';",
        'const a: Matrix = matrix(2, 2, new Float64Array([1, 2, 3, 4]));',
        'const product: Matrix<Float64Array> = matmul(a, a);',
        'const rng: Rng = Rng.fromSeed(1);',
        'const dir: string = fixturesDir();',
        'const err: TsdError = new TsdError("x", { file: dir });',
        'export type Seams = [LinearProvider, TrainableModel];',
        'export const used = [product, rng.nextFloat(), err.code, Object.keys(transformers)];',
        // Proof that the published types are real, not `any`: these lines must be errors.
        '// @ts-expect-error nextFloat returns a number',
        'export const notAString: string = rng.nextFloat();',
        '// @ts-expect-error fineTune needs its options',
        'export const missingOptions = transformers.fineTune();',
        '// @ts-expect-error the fixture helpers live in @tsd-peft/core/testing only',
        'export const movedHelper = coreNode.fixturesDir;',
        '// @ts-expect-error the hub cache writes with core/node writeFileAtomic; transformers exports no writer',
        'export const noWriter = transformers.writeAtomic;',
        '// @ts-expect-error the protobuf wire reader is in @tsd-peft/transformers/internal only',
        'export const noWire = transformers.readFields;',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // Third-party declarations (transformers.js, tfjs) do not all check cleanly under NodeNext.
          skipLibCheck: true,
          types: [],
          lib: ['ES2022', 'DOM'],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`tsc failed on the consumer:\n${stdout}${stderr}`);
    }
  });

  it.each(['tsd-peft', 'tsd-bench'])('runs `%s --help` and `--version`', (bin) => {
    const run = (arg: string) => execFileSync(join(consumer, 'node_modules', '.bin', bin), [arg], { cwd: consumer, encoding: 'utf8' });
    expect(run('--help')).toMatch(/usage/i);
    const owner = packages.find((p) => p.bins.includes(bin));
    const { version } = JSON.parse(readFileSync(join(repo, owner?.dir ?? '', 'package.json'), 'utf8')) as { version: string };
    expect(run('--version').trim()).toBe(`${bin} ${version}`);
  });
});
