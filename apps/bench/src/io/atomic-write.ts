import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic as coreWriteFileAtomic } from '@tsd-peft/core/node';

/**
 * Writes `data` to `path` atomically (core's temp-file + fsync + rename, so a
 * reader or a bench killed mid-write sees the old file or the new one, never
 * a partial one), creating the folder first.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  coreWriteFileAtomic(path, data);
}
