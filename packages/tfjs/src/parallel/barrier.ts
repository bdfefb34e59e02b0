import { TsdError } from '@tsd-peft/core';
import { CONTROL, type SharedMemoryLayout } from './shared-memory.js';

/** Start of every {@link ReplicaAbortedError} message (how the coordinator tells echoes from root causes). */
export const ABORT_ECHO = 'data-parallel run aborted';

/** Thrown in a replica waiting at a barrier when another replica (or the coordinator) aborted the run. */
export class ReplicaAbortedError extends TsdError {
  constructor(
    readonly culprit: number,
    worldSize: number,
  ) {
    super(culprit > worldSize ? `${ABORT_ECHO} by the coordinator (a worker exited or the run was cancelled)` : `${ABORT_ECHO}: worker ${culprit - 1} failed`);
  }
}

/** How long one `Atomics.wait` sleeps before re-checking the abort flag (ms). */
const WAIT_SLICE_MS = 100;

/**
 * A reusable barrier for the `worldSize` replicas over shared control words
 * (generation counting: the last rank to arrive resets the count and bumps
 * the generation; the others sleep on the generation word). It never spins
 * hot, and a waiting rank wakes within {@link WAIT_SLICE_MS} when any rank or
 * the coordinator sets the abort flag, so one failure cannot hang the others.
 */
export class SharedBarrier {
  private readonly control: Int32Array;
  /** Milliseconds this rank has spent blocked in {@link SharedBarrier.arrive}, waiting for the others. */
  waitedMilliseconds = 0;

  constructor(private readonly memory: SharedMemoryLayout) {
    this.control = new Int32Array(memory.control);
  }

  /** Blocks until all ranks have arrived; throws {@link ReplicaAbortedError} once the run is aborted. */
  arrive(): void {
    const c = this.control;
    this.throwIfAborted();
    const generation = Atomics.load(c, CONTROL.generation);
    if (Atomics.add(c, CONTROL.arrived, 1) === this.memory.worldSize - 1) {
      Atomics.store(c, CONTROL.arrived, 0);
      Atomics.add(c, CONTROL.generation, 1);
      Atomics.notify(c, CONTROL.generation);
      return;
    }
    const started = performance.now();
    try {
      while (Atomics.load(c, CONTROL.generation) === generation) {
        this.throwIfAborted();
        Atomics.wait(c, CONTROL.generation, generation, WAIT_SLICE_MS);
      }
    } finally {
      this.waitedMilliseconds += performance.now() - started;
    }
  }

  /**
   * Marks the run as failed by `rank` (0-based; `worldSize` for the
   * coordinator) and wakes every waiter. The first abort wins.
   */
  abort(rank: number): void {
    Atomics.compareExchange(this.control, CONTROL.abort, 0, rank + 1);
    Atomics.notify(this.control, CONTROL.generation);
  }

  /** True once any rank or the coordinator aborted. */
  get aborted(): boolean {
    return Atomics.load(this.control, CONTROL.abort) !== 0;
  }

  private throwIfAborted(): void {
    const culprit = Atomics.load(this.control, CONTROL.abort);
    if (culprit !== 0) throw new ReplicaAbortedError(culprit, this.memory.worldSize);
  }
}
