import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');
const publishable = ['packages/core', 'packages/tfjs', 'packages/transformers', 'apps/bench'];

describe('changesets release flow', () => {
  const work = mkdtempSync(join(tmpdir(), 'tsd-version-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('`npm run version-packages` bumps every package and writes its CHANGELOG (in a temporary copy)', () => {
    // Copy only what changesets reads, so the repository itself is never modified.
    cpSync(join(repo, 'package.json'), join(work, 'package.json'));
    cpSync(join(repo, '.changeset'), join(work, '.changeset'), { recursive: true });
    for (const dir of [...publishable, 'tooling/tsconfig']) {
      cpSync(join(repo, dir, 'package.json'), join(work, dir, 'package.json'), { recursive: true });
    }
    const pending = readdirSync(join(work, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    expect(pending.length).toBeGreaterThan(0);

    execFileSync(process.execPath, [join(repo, 'node_modules/@changesets/cli/bin.js'), 'version'], {
      cwd: work,
      stdio: 'pipe',
      env: { ...process.env, CI: 'true' },
    });

    for (const dir of publishable) {
      const before = JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')) as { version: string };
      const after = JSON.parse(readFileSync(join(work, dir, 'package.json'), 'utf8')) as { version: string };
      expect(after.version, dir).not.toBe(before.version);
      const changelog = join(work, dir, 'CHANGELOG.md');
      expect(existsSync(changelog), `${dir}/CHANGELOG.md`).toBe(true);
      expect(readFileSync(changelog, 'utf8')).toContain(after.version);
    }
    // Consumed changesets are deleted.
    expect(readdirSync(join(work, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md')).toEqual([]);
  });

  it('GitHub workflows: CI runs the README test command, the release goes through changesets with provenance', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && npm test');
    const ci = readFileSync(join(repo, '.github/workflows/ci.yml'), 'utf8');
    expect(ci).toMatch(/run: npm ci\b/);
    expect(ci).toMatch(/run: npm test\s*$/m);
    const release = readFileSync(join(repo, '.github/workflows/release.yml'), 'utf8');
    expect(release).toContain('uses: changesets/action@v1');
    expect(release).toContain('id-token: write');
    expect(release).toMatch(/NPM_CONFIG_PROVENANCE: 'true'/);
    const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    // The workflow's commands are the repo's own scripts.
    expect(release).toContain('version: npm run version-packages');
    expect(release).toContain('publish: npm run release');
    expect(scripts['version-packages']).toBe('changeset version');
    expect(scripts['release']).toContain('changeset publish');
  });
});
