import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderLockedError } from '../errors.js';
import { acquireFolderLock, folderLockPath, withFolderLock } from './folder-lock.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-lock-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('acquireFolderLock', () => {
  it('holds the folder: a second taker gets FolderLockedError naming the owner, then succeeds after release', () => {
    const dir = join(tmp, 'run-a');
    const lock = acquireFolderLock(dir, 'tsd-peft train');
    expect(lock.file).toBe(folderLockPath(dir));
    const owner = JSON.parse(readFileSync(lock.file, 'utf8')) as { pid: number; command: string };
    expect(owner).toMatchObject({ pid: process.pid, command: 'tsd-peft train' });
    const second = () => acquireFolderLock(dir, 'tsd-peft export');
    expect(second).toThrow(FolderLockedError);
    expect(second).toThrow(expect.objectContaining({ code: 'FOLDER_LOCKED', file: lock.file }));
    expect(second).toThrow(`tsd-peft train (pid ${process.pid}`);
    lock.release();
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
    acquireFolderLock(dir, 'tsd-peft export').release();
  });

  it('takes over a stale lock whose process is gone', () => {
    const dir = join(tmp, 'run-b');
    const file = folderLockPath(dir);
    writeFileSync(file, JSON.stringify({ pid: deadPid(), hostname: hostname(), command: 'tsd-peft train', since: '2026-01-01T00:00:00Z' }));
    const lock = acquireFolderLock(dir, 'tsd-bench');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'tsd-bench' });
    lock.release();
  });

  it('treats a lock from another host or in an unknown format as held', () => {
    const dir = join(tmp, 'run-c');
    const file = folderLockPath(dir);
    writeFileSync(file, JSON.stringify({ pid: deadPid(), hostname: 'elsewhere', command: 'tsd-peft train', since: 'x' }));
    expect(() => acquireFolderLock(dir, 'tsd-bench')).toThrow(/on elsewhere/);
    writeFileSync(file, 'garbage');
    expect(() => acquireFolderLock(dir, 'tsd-bench')).toThrow(FolderLockedError);
    rmSync(file);
  });

  it('withFolderLock releases when the work throws', async () => {
    const dir = join(tmp, 'run-d');
    await expect(withFolderLock(dir, 'test', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(folderLockPath(dir))).toBe(false);
  });
});
