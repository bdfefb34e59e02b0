import { ConfigError } from '@tsd-peft/core';

/**
 * The memory data-parallel replicas share: one `SharedArrayBuffer` for
 * control words (barrier, abort and stop flags), one for per-rank scalars
 * (exchanged each step), and one for gradient chunks (a slot per rank plus a
 * result slot). Created by the coordinator, passed to every worker in
 * `workerData`; plain data, so it crosses `postMessage` by reference.
 */
export interface SharedMemoryLayout {
  readonly worldSize: number;
  /** Floats per rank slot; longer gradients are reduced in chunks of this size. */
  readonly chunkElements: number;
  /** Float64 scalars each rank contributes per exchange. */
  readonly scalarsPerRank: number;
  readonly control: SharedArrayBuffer;
  readonly scalars: SharedArrayBuffer;
  readonly gradients: SharedArrayBuffer;
}

/** Index of each control word in the `Int32Array` over {@link SharedMemoryLayout.control}. */
export const CONTROL = {
  /** Ranks that arrived at the current barrier. */
  arrived: 0,
  /** Barrier generation, bumped by the last rank to arrive (waiters sleep on it). */
  generation: 1,
  /** 0 while healthy; 1 + rank of the first rank that failed (or worldSize + 1: the coordinator). */
  abort: 2,
  /** Set to 1 by the coordinator when its `AbortSignal` fires; rank 0 turns it into a collective stop. */
  stopRequested: 3,
} as const;

const CONTROL_WORDS = 8;

/** Scalars per rank in each exchange (see `all-reduce.ts`). */
export const DEFAULT_SCALARS_PER_RANK = 8;

/** Default chunk: 2^20 floats (4 MiB) per rank, plenty for LoRA in one chunk; full fine-tuning reduces in a few. */
export const DEFAULT_CHUNK_ELEMENTS = 1 << 20;

/**
 * Allocates the shared memory for `worldSize` replicas. Gradients of any
 * length fit: they are reduced `chunkElements` floats at a time.
 */
export function createSharedMemory(worldSize: number, chunkElements = DEFAULT_CHUNK_ELEMENTS, scalarsPerRank = DEFAULT_SCALARS_PER_RANK): SharedMemoryLayout {
  for (const [field, value] of [
    ['workers', worldSize],
    ['chunkElements', chunkElements],
    ['scalarsPerRank', scalarsPerRank],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${field} must be a positive integer, got ${value}`, { field: field });
  }
  return {
    worldSize,
    chunkElements,
    scalarsPerRank,
    control: new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT),
    // two buffers (exchanges alternate), so a fast rank never overwrites values a slow one still reads
    scalars: new SharedArrayBuffer(2 * worldSize * scalarsPerRank * Float64Array.BYTES_PER_ELEMENT),
    gradients: new SharedArrayBuffer((worldSize + 1) * chunkElements * Float32Array.BYTES_PER_ELEMENT),
  };
}
