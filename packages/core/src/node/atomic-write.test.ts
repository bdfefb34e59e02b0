import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { TsdError } from '../errors.js';
import { writeFileAtomic, writeFilesAtomic } from './atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'tsd-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('writes strings and bytes, replaces an existing file, leaves no temp files', () => {
  const path = join(dir, 'a.json');
  writeFileSync(path, 'old');
  writeFileAtomic(path, '{"x": "é"}');
  expect(readFileSync(path, 'utf8')).toBe('{"x": "é"}');
  writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  expect(readdirSync(dir)).toEqual(['a.json']);
});

test('a failed rename keeps the old target, removes the temp file and names the path', () => {
  const target = join(dir, 'occupied');
  mkdirSync(join(target, 'child'), { recursive: true }); // renaming a file over a non-empty folder fails
  let error: unknown;
  try {
    writeFileAtomic(target, 'data');
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TsdError);
  expect((error as TsdError).file).toBe(target);
  expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  expect(readdirSync(target)).toEqual(['child']);
});

test('a missing folder fails with the path named', () => {
  expect(() => writeFileAtomic(join(dir, 'no', 'such', 'file'), 'x')).toThrow(/could not write file.*no\/such\/file/);
});

test('writeFilesAtomic replaces a set of files only when every one was staged', () => {
  const group = join(dir, 'group');
  mkdirSync(group);
  const [weights, config] = [join(group, 'weights.bin'), join(group, 'config.json')];
  writeFileSync(weights, 'old weights');
  writeFileSync(config, 'old config');
  // The second file cannot be staged (its folder is missing): the first must not replace its target either.
  expect(() =>
    writeFilesAtomic([
      [weights, new Uint8Array([9, 9, 9])],
      [join(group, 'missing', 'config.json'), '{}'],
    ]),
  ).toThrow(/could not write file.*missing\/config\.json/);
  expect(readFileSync(weights, 'utf8')).toBe('old weights');
  expect(readdirSync(group).sort()).toEqual(['config.json', 'weights.bin']);

  writeFilesAtomic([
    [weights, new Uint8Array([1, 2])],
    [config, '{"r": 4}'],
  ]);
  expect([...readFileSync(weights)]).toEqual([1, 2]);
  expect(readFileSync(config, 'utf8')).toBe('{"r": 4}');
  expect(readdirSync(group).sort()).toEqual(['config.json', 'weights.bin']);
});
