/** A stored checkpoint, as bytes. */
export interface StoredCheckpoint {
  step: number;
  bytes: Uint8Array;
  /** Where it lives (a file path for `directoryCheckpointStore` of `@tsd-peft/tfjs/node`). */
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

/** Options of `directoryCheckpointStore` (`@tsd-peft/tfjs/node`). */
export interface DirectoryStoreOptions {
  /** How many of the newest checkpoints to keep (default 1; the newest is written before any is removed). */
  keepLast?: number;
}

/** Names of checkpoint files (the step in group 1); anything else in the folder is ignored. */
export const CHECKPOINT_FILE_PATTERN = /^checkpoint-(\d{8,})\.safetensors$/;

/** File name of the checkpoint of `step`: `checkpoint-00000120.safetensors` (zero-padded so names sort by step). */
export function checkpointFileName(step: number): string {
  return `checkpoint-${String(step).padStart(8, '0')}.safetensors`;
}
