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
    renameSync(tmp, path);
  } catch (cause) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error matters more
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may never have been created
    }
    throw new TsdError(`could not write file: ${(cause as Error).message}`, { file: path }, 'TSD_ERROR', { cause });
  }
  syncDirectory(dirname(path));
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
