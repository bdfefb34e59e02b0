import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, TsdError } from '@tsd-peft/core';
import { writeFileAtomic } from '@tsd-peft/core/node';
import { checkpointFileName, CHECKPOINT_FILE_PATTERN, type CheckpointStore, type DirectoryStoreOptions } from './checkpoint-store.js';

/**
 * A {@link CheckpointStore} over a folder (Node only: `@tsd-peft/tfjs/node`).
 * Each checkpoint is one file written by core's `writeFileAtomic` (a
 * temporary name in the same folder, fsynced, then renamed over its final
 * name), so a SIGKILL leaves either no file or a complete one. Old
 * checkpoints are removed only after the new one is in place. Leftover
 * temporary files from a killed writer are ignored.
 */
export function directoryCheckpointStore(dir: string, options: DirectoryStoreOptions = {}): CheckpointStore {
  const keepLast = options.keepLast ?? 1;
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new ConfigError(`checkpoint.keepLast must be a positive integer, got ${keepLast}`);
  const steps = async (): Promise<number[]> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TsdError('cannot list the checkpoint folder', { file: dir }, 'TSD_ERROR', { cause: error });
    }
    return names
      .map((name) => CHECKPOINT_FILE_PATTERN.exec(name)?.[1])
      .filter((digits): digits is string => digits !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  };
  return {
    steps,
    async save(step, bytes) {
      await mkdir(dir, { recursive: true });
      const path = join(dir, checkpointFileName(step));
      writeFileAtomic(path, bytes);
      const all = await steps();
      // Only ever prune checkpoints older than the one just written.
      const stale = all.filter((s) => s < step).slice(0, Math.max(0, all.length - keepLast));
      for (const old of stale) await rm(join(dir, checkpointFileName(old)), { force: true });
      return path;
    },
    async latest() {
      const all = await steps();
      const step = all.at(-1);
      if (step === undefined) return undefined;
      const location = join(dir, checkpointFileName(step));
      try {
        return { step, bytes: new Uint8Array(await readFile(location)), location };
      } catch (error) {
        throw new TsdError('cannot read the checkpoint', { file: location }, 'TSD_ERROR', { cause: error });
      }
    },
  };
}
