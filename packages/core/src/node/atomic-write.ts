import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TsdError } from '../errors.js';

/**
 * Writes `content` to `path` atomically: a temp file in the same folder
 * (same filesystem, so the rename is atomic), written in full and fsynced,
 * then renamed over `path`. Readers see the old file or the new one, never
 * a torn write. The temp file is removed when anything fails, and the
 * failure is rethrown as a {@link TsdError} naming `path`.
 */
export function writeFileAtomic(path: string, content: Uint8Array | string): void {
  writeFilesAtomic([[path, content]]);
}

/**
 * Writes several files that belong together (an adapter's weights and its
 * config): every temp file is written and fsynced first, and only then are
 * they renamed into place, back to back. If staging fails, no target is
 * touched and every temp file is removed. A crash can only leave a mix of
 * old and new files in the instant between two renames, not during a write.
 */
export function writeFilesAtomic(files: readonly (readonly [path: string, content: Uint8Array | string])[]): void {
  const staged: { tmp: string; path: string }[] = [];
  try {
    for (const [path, content] of files) staged.push({ tmp: stageFile(path, content), path });
  } catch (error) {
    for (const { tmp } of staged) removeQuietly(tmp);
    throw error;
  }
  for (const [i, { tmp, path }] of staged.entries()) {
    try {
      renameSync(tmp, path);
    } catch (cause) {
      for (const later of staged.slice(i)) removeQuietly(later.tmp);
      throw new TsdError(`could not write file: ${(cause as Error).message}`, { file: path }, 'TSD_ERROR', { cause });
    }
  }
  for (const dir of new Set(staged.map(({ path }) => dirname(path)))) syncDirectory(dir);
}

/** Writes `content` in full to a fresh temp file beside `path`, fsynced; returns the temp file's path. */
function stageFile(path: string, content: Uint8Array | string): string {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let written = 0;
    while (written < bytes.byteLength) {
      written += writeSync(fd, bytes, written, bytes.byteLength - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (cause) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error matters more
      }
    }
    removeQuietly(tmp);
    throw new TsdError(`could not write file: ${(cause as Error).message}`, { file: path }, 'TSD_ERROR', { cause });
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // the temp file may never have been created
  }
}

/** Best-effort fsync of the folder so the rename itself survives a crash (not supported on Windows). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some platforms cannot open or fsync a directory; the data itself is already synced
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
