import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { FolderLockedError } from '../errors.js';

/** What a lock file holds: who took it, and when. */
export interface FolderLockOwner {
  pid: number;
  hostname: string;
  /** What holds it, e.g. `tsd-peft train`. */
  command: string;
  /** ISO time the lock was taken. */
  since: string;
}

/** A held lock on an output folder; {@link FolderLock.release} it when done. */
export interface FolderLock {
  /** The lock file's path. */
  readonly file: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
}

/**
 * The lock file for `dir`: beside it, not inside, because some writers
 * (the ONNX export) build the folder elsewhere and rename it into place.
 */
export function folderLockPath(dir: string): string {
  const abs = resolve(dir);
  return join(dirname(abs), `.${basename(abs)}.tsd-peft.lock`);
}

/**
 * Takes an exclusive lock on output folder `dir` for `command`, so that two
 * runs writing the same folder cannot interleave their files. The lock is a
 * file created with O_EXCL holding the owner's pid; a lock whose process is
 * gone (killed, crashed) on this host is stale and taken over. Throws
 * {@link FolderLockedError} naming the owner when another live process holds
 * it. The lock is released on `release()` or when this process exits.
 */
export function acquireFolderLock(dir: string, command: string): FolderLock {
  const file = folderLockPath(dir);
  mkdirSync(dirname(file), { recursive: true });
  const owner: FolderLockOwner = { pid: process.pid, hostname: hostname(), command, since: new Date().toISOString() };
  const content = `${JSON.stringify(owner)}\n`;
  // Two tries: the second follows the removal of a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (createExclusive(file, content)) return heldLock(file, content);
    const holder = readOwner(file);
    if (holder === null) continue; // released between our create and our read
    if (isAlive(holder)) throw lockedError(dir, file, holder);
    removeStale(file, holder);
  }
  const holder = readOwner(file);
  throw lockedError(dir, file, holder ?? owner);
}

/** Runs `fn` holding the lock on `dir`, and releases it however `fn` ends. */
export async function withFolderLock<T>(dir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = acquireFolderLock(dir, command);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

function createExclusive(file: string, content: string): boolean {
  // Written to a private temp file first and hard-linked into place, so a reader never sees a half-written lock.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(tmp);
  }
}

function heldLock(file: string, content: string): FolderLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      // already gone: nothing to release
    }
  };
  process.on('exit', release);
  return { file, release };
}

function readOwner(file: string): FolderLockOwner | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<FolderLockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string') {
      return { pid: parsed.pid, hostname: parsed.hostname, command: String(parsed.command ?? 'unknown'), since: String(parsed.since ?? '') };
    }
  } catch {
    // not ours, or from a future format: treat as held by an unknown process below
  }
  return { pid: -1, hostname: '', command: 'an unknown process', since: '' };
}

/** A lock from another host cannot be checked, so it counts as alive; so does one we cannot read. */
function isAlive(owner: FolderLockOwner): boolean {
  if (owner.pid <= 0 || owner.hostname !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Moves the stale lock aside with an atomic rename, then checks that what was
 * moved is still the stale owner's: if a racing process had already replaced
 * it with a live lock, that lock is linked back instead of deleted.
 */
function removeStale(file: string, stale: FolderLockOwner): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = readOwner(aside);
  if (moved !== null && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    try {
      linkSync(aside, file);
    } catch {
      // a third process holds the path now; its lock stands
    }
  }
  unlinkSync(aside);
}

function lockedError(dir: string, file: string, owner: FolderLockOwner): FolderLockedError {
  const who = owner.pid > 0 ? `${owner.command} (pid ${owner.pid}${owner.hostname === hostname() ? '' : ` on ${owner.hostname}`}${owner.since === '' ? '' : `, since ${owner.since}`})` : owner.command;
  return new FolderLockedError(`${resolve(dir)} is in use by ${who}; wait for it to finish or choose another output folder (if no such run is going, delete the lock file)`, { file });
}
