import { ConfigError, ShapeError } from '@tsd-peft/core';
import { SharedBarrier } from './barrier.js';
import type { SharedMemoryLayout } from './shared-memory.js';

/**
 * One replica's end of a deterministic all-reduce over shared memory.
 *
 * Every element of the mean is computed as `(g₀ + g₁ + … + g_{N−1}) / N`,
 * ranks added in that fixed order in float64 and rounded to float32 once.
 * Which rank computes which element (the work is split in contiguous
 * blocks, a reduce-scatter followed by an all-gather through the result
 * slot) changes nothing in the value, so the result is bit-identical on
 * every rank and from run to run, whatever the thread timing. With one
 * replica it is the input itself, bit for bit.
 */
export class FixedOrderAllReduce {
  readonly worldSize: number;
  private readonly barrier: SharedBarrier;
  private readonly slots: Float32Array[];
  private readonly result: Float32Array;
  private readonly scalarView: Float64Array;
  private exchanges = 0;

  constructor(
    private readonly memory: SharedMemoryLayout,
    readonly rank: number,
  ) {
    if (!Number.isInteger(rank) || rank < 0 || rank >= memory.worldSize) {
      throw new ConfigError(`rank ${rank} is outside [0, ${memory.worldSize})`, { field: 'rank' });
    }
    this.worldSize = memory.worldSize;
    this.barrier = new SharedBarrier(memory);
    const c = memory.chunkElements;
    this.slots = Array.from({ length: this.worldSize }, (_, i) => new Float32Array(memory.gradients, i * c * 4, c));
    this.result = new Float32Array(memory.gradients, this.worldSize * c * 4, c);
    this.scalarView = new Float64Array(memory.scalars);
  }

  /** Milliseconds this rank has waited at barriers for the other ranks so far. */
  get waitedMilliseconds(): number {
    return this.barrier.waitedMilliseconds;
  }

  /** Waits for every replica (see {@link SharedBarrier.arrive}). */
  sync(): void {
    this.barrier.arrive();
  }

  /** Aborts the run for every replica (this rank is named as the one that failed). */
  abort(): void {
    this.barrier.abort(this.rank);
  }

  /**
   * The element-wise mean over replicas of `segments` (one flat float32 array
   * per tensor, in the same order and lengths on every rank), as new arrays.
   * Every rank must call this the same number of times with the same lengths.
   */
  mean(segments: readonly Float32Array[]): Float32Array[] {
    const out = segments.map((s) => new Float32Array(s.length));
    this.meanInto(segments, out);
    return out;
  }

  /**
   * {@link FixedOrderAllReduce.mean} written into `outputs` (same lengths as
   * `inputs`; e.g. views of freshly allocated tensors' memory). Per chunk:
   * copy in, barrier, reduce this rank's block, barrier, copy out. No third
   * barrier is needed before the next chunk: a rank writes only its own
   * slot, which nobody reads after the second barrier, and the result slot
   * is rewritten only after the next first barrier, which every rank reaches
   * after it has copied this chunk's result out.
   */
  meanInto(inputs: readonly Float32Array[], outputs: Float32Array[]): void {
    const total = inputs.reduce((n, s) => n + s.length, 0);
    if (outputs.length !== inputs.length || outputs.some((o, i) => o.length !== (inputs[i] as Float32Array).length)) {
      throw new ShapeError('meanInto needs one output of the same length per input', { tensor: 'all-reduce', shape: outputs.map((o) => o.length) });
    }
    const n = this.worldSize;
    const mine = this.slots[this.rank] as Float32Array;
    for (let offset = 0; offset < total; offset += this.memory.chunkElements) {
      const len = Math.min(this.memory.chunkElements, total - offset);
      copyFromSegments(inputs, offset, len, mine);
      this.barrier.arrive();
      const begin = Math.floor((len * this.rank) / n);
      const end = Math.floor((len * (this.rank + 1)) / n);
      reduceBlock(this.slots, this.result, begin, end);
      this.barrier.arrive();
      copyToSegments(this.result, len, outputs, offset);
    }
  }

  /**
   * All-gather of a few float64 scalars per rank (loss weights, token counts,
   * checksums, flags): returns every rank's `values`, indexed by rank.
   */
  exchange(values: readonly number[]): number[][] {
    const per = this.memory.scalarsPerRank;
    if (values.length > per) {
      throw new ShapeError(`at most ${per} scalars per exchange, got ${values.length}`, { tensor: 'exchange', shape: [values.length] });
    }
    // alternate halves: a rank can only reach exchange k+2 after everyone passed exchange k+1's barrier
    const base = (this.exchanges++ % 2) * this.worldSize * per;
    const mine = base + this.rank * per;
    for (let i = 0; i < values.length; i++) this.scalarView[mine + i] = values[i] as number;
    this.barrier.arrive();
    return Array.from({ length: this.worldSize }, (_, r) => Array.from(this.scalarView.subarray(base + r * per, base + r * per + values.length)));
  }
}

/** Σ over ranks in rank order (float64), divided by N, rounded to float32 on store. */
function reduceBlock(slots: readonly Float32Array[], result: Float32Array, begin: number, end: number): void {
  const n = slots.length;
  if (n === 1) {
    result.set((slots[0] as Float32Array).subarray(begin, end), begin);
    return;
  }
  if (n === 2) {
    const a = slots[0] as Float32Array;
    const b = slots[1] as Float32Array;
    for (let j = begin; j < end; j++) result[j] = ((a[j] as number) + (b[j] as number)) / 2;
    return;
  }
  for (let j = begin; j < end; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += (slots[i] as Float32Array)[j] as number;
    result[j] = s / n;
  }
}

/** Copies `len` elements starting at flat `offset` of the virtual concatenation of `segments` into `target`. */
function copyFromSegments(segments: readonly Float32Array[], offset: number, len: number, target: Float32Array): void {
  let start = 0;
  let written = 0;
  for (const s of segments) {
    const end = start + s.length;
    if (end > offset && written < len) {
      const from = Math.max(0, offset + written - start);
      const take = Math.min(s.length - from, len - written);
      target.set(s.subarray(from, from + take), written);
      written += take;
    }
    start = end;
    if (written === len) break;
  }
}

/** The inverse of {@link copyFromSegments}: `source[0, len)` → flat `offset` of `segments`. */
function copyToSegments(source: Float32Array, len: number, segments: Float32Array[], offset: number): void {
  let start = 0;
  let read = 0;
  for (const s of segments) {
    const end = start + s.length;
    if (end > offset && read < len) {
      const from = Math.max(0, offset + read - start);
      const take = Math.min(s.length - from, len - read);
      s.set(source.subarray(read, read + take), from);
      read += take;
    }
    start = end;
    if (read === len) break;
  }
}
