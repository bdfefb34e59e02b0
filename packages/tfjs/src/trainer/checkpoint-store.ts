import { ConfigError, TsdError } from '@tsd-peft/core';

/** A stored checkpoint, as bytes. */
export interface StoredCheckpoint {
  step: number;
  bytes: Uint8Array;
  /** Where it lives (a file path for {@link directoryCheckpointStore}). */
  location: string;
}

/**
 * Where checkpoints go. `save` must be atomic: after a crash at any moment,
 * `latest` returns either the previous or the new checkpoint, whole.
 */
export interface CheckpointStore {
  /** Stores the checkpoint of `step`, then prunes old ones; returns its location. */
  save(step: number, bytes: Uint8Array): Promise<string>;
  /** The checkpoint with the highest step, or undefined when there is none. */
  latest(): Promise<StoredCheckpoint | undefined>;
  /** Steps of the stored checkpoints, ascending. */
  steps(): Promise<number[]>;
}

/** Options of {@link directoryCheckpointStore}. */
export interface DirectoryStoreOptions {
  /** How many of the newest checkpoints to keep (default 1; the newest is written before any is removed). */
  keepLast?: number;
}

const FILE_PATTERN = /^checkpoint-(\d{8,})\.safetensors$/;

/** File name of the checkpoint of `step`: `checkpoint-00000120.safetensors` (zero-padded so names sort by step). */
export function checkpointFileName(step: number): string {
  return `checkpoint-${String(step).padStart(8, '0')}.safetensors`;
}

/**
 * A {@link CheckpointStore} over a folder (Node only; `node:fs` is loaded on
 * first use so that browser bundles of this package do not pull it in). Each
 * checkpoint is one file written by core's `writeFileAtomic` (a temporary name
 * in the same folder, fsynced, then renamed over its final name), so a SIGKILL
 * leaves either no file or a complete one. Old checkpoints are removed only after the new one
 * is in place. Leftover temporary files from a killed writer are ignored.
 */
export function directoryCheckpointStore(dir: string, options: DirectoryStoreOptions = {}): CheckpointStore {
  const keepLast = options.keepLast ?? 1;
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new ConfigError(`checkpoint.keepLast must be a positive integer, got ${keepLast}`);
  const steps = async (): Promise<number[]> => {
    const { readdir } = await import('node:fs/promises');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new TsdError('cannot list the checkpoint folder', { file: dir }, 'TSD_ERROR', { cause: error });
    }
    return names
      .map((name) => FILE_PATTERN.exec(name)?.[1])
      .filter((digits): digits is string => digits !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  };
  return {
    steps,
    async save(step, bytes) {
      const { mkdir, rm } = await import('node:fs/promises');
      const { join } = await import('node:path');
      await mkdir(dir, { recursive: true });
      const { writeFileAtomic } = await import('@tsd-peft/core/node');
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
      const { readFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const location = join(dir, checkpointFileName(step));
      try {
        return { step, bytes: new Uint8Array(await readFile(location)), location };
      } catch (error) {
        throw new TsdError('cannot read the checkpoint', { file: location }, 'TSD_ERROR', { cause: error });
      }
    },
  };
}
