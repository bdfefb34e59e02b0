import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every TypeScript example in the READMEs that imports something is a
 * program a user may paste: it must type-check under `tsc --strict` against
 * the built packages (their published `.d.ts`). Fragments without imports
 * continue an earlier example and are not checked on their own.
 */
const repo = resolve(import.meta.dirname, '..');
const readmes = ['README.md', 'packages/core/README.md', 'packages/tfjs/README.md', 'packages/transformers/README.md', 'apps/bench/README.md'];
// Inside the repository, so that the examples resolve @tsd-peft/* and their dependencies from its node_modules.
const work = join(repo, '.tmp', 'readme-examples');

function examplesOf(readme: string): { file: string; code: string }[] {
  const text = readFileSync(join(repo, readme), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m, i) => ({ file: `${readme.replaceAll('/', '_').replace(/\.md$/, '')}_${i}.ts`, code: m[1] ?? '' }))
    .filter(({ code }) => /^import /m.test(code));
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README examples', () => {
  it('type-check under tsc --strict against the built packages', () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const examples = readmes.flatMap(examplesOf);
    expect(examples.length).toBeGreaterThan(25);
    for (const { file, code } of examples) writeFileSync(join(work, file), code);
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noEmit: true,
          // Third-party declarations (tfjs, transformers.js) are not all strict-clean; the examples are.
          skipLibCheck: true,
          types: ['node'],
          lib: ['ES2022', 'DOM'],
        },
        include: ['*.ts'],
      }),
    );
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: work, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      output = `${stdout}${stderr}`;
    }
    expect(output, 'README examples that do not type-check (file names are README path + block index)').toBe('');
  });
});
