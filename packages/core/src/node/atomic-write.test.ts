import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { TsdError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

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
