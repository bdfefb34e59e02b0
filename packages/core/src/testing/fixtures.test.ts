import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES_ENV, FixtureMissingError, fixturePath, fixturesDir, hasFixture } from './fixtures.js';

describe('fixtures folder', () => {
  const saved = process.env[FIXTURES_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[FIXTURES_ENV];
    else process.env[FIXTURES_ENV] = saved;
  });

  it('honours TSD_FIXTURES, else ../shared beside the workspace root', () => {
    const root = mkdtempSync(join(tmpdir(), 'tsd-fixtures-'));
    try {
      const repo = join(root, 'repo');
      mkdirSync(join(repo, 'packages', 'x'), { recursive: true });
      writeFileSync(join(repo, 'package.json'), JSON.stringify({ workspaces: ['packages/*'] }));
      writeFileSync(join(repo, 'packages', 'x', 'package.json'), JSON.stringify({ name: 'x' }));
      delete process.env[FIXTURES_ENV];
      expect(fixturesDir(join(repo, 'packages', 'x'))).toBe(join(root, 'shared'));
      process.env[FIXTURES_ENV] = 'some/where';
      expect(fixturesDir(join(repo, 'packages', 'x'))).toBe(resolve('some/where'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails loudly, naming the file and the variable, when a fixture is missing', () => {
    process.env[FIXTURES_ENV] = mkdtempSync(join(tmpdir(), 'tsd-empty-'));
    expect(hasFixture('reference', 'nope.json')).toBe(false);
    expect(() => fixturePath('reference', 'nope.json')).toThrow(FixtureMissingError);
    expect(() => fixturePath('reference', 'nope.json')).toThrow(/reference\/nope\.json.*TSD_FIXTURES/);
    rmSync(process.env[FIXTURES_ENV], { recursive: true, force: true });
  });
});
