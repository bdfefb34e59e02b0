import * as tf from '@tensorflow/tfjs-core';

/** How many sequence lengths keep their own cached tensors (bounded memory during generation). */
export const CACHED_LENGTHS = 16;

/**
 * Kept tensors derived from a growing "master" table, one entry per sequence
 * length. The first {@link CACHED_LENGTHS} lengths seen are kept for the
 * model's lifetime (training uses one or two lengths, so every forward hits);
 * later lengths are sliced from the master on each call and belong to the
 * caller's tidy scope, so generation (a new length every step) cannot grow
 * memory without bound. Entries are never evicted, so a tensor a gradient
 * tape still references is never disposed under it.
 */
export class LengthCache<T extends tf.Tensor> {
  private master: { size: number; tensors: tf.Tensor[] } | null = null;
  private readonly byLength = new Map<number, T[]>();

  /**
   * @param buildMaster tensors covering lengths up to `size` (e.g. a [size, size] mask)
   * @param sliceTo the entry for length `len` from the master tensors
   */
  constructor(
    private readonly buildMaster: (size: number) => tf.Tensor[],
    private readonly sliceTo: (master: tf.Tensor[], len: number) => T[],
  ) {}

  /** The tensors for `len` (kept when cached, else owned by the caller's tidy). */
  get(len: number): T[] {
    const cached = this.byLength.get(len);
    if (cached !== undefined) return cached;
    const master = this.masterFor(len);
    if (this.byLength.size >= CACHED_LENGTHS) return this.sliceTo(master, len);
    const entry = tf.tidy(() => this.sliceTo(master, len));
    entry.forEach((t) => tf.keep(t));
    this.byLength.set(len, entry);
    return entry;
  }

  /** The master tensors, grown (by doubling) to cover at least `len`. */
  masterFor(len: number): tf.Tensor[] {
    if (this.master === null || this.master.size < len) {
      const size = Math.max(len, 2 * (this.master?.size ?? 0), 64);
      const tensors = tf.tidy(() => this.buildMaster(size));
      tensors.forEach((t) => tf.keep(t));
      this.master?.tensors.forEach((t) => t.dispose());
      this.master = { size, tensors };
    }
    return this.master.tensors;
  }

  /** Frees the master and every cached entry. */
  dispose(): void {
    for (const entry of this.byLength.values()) entry.forEach((t) => t.dispose());
    this.byLength.clear();
    this.master?.tensors.forEach((t) => t.dispose());
    this.master = null;
  }
}
