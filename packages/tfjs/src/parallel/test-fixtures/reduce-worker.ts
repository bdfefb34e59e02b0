/**
 * Worker of the all-reduce unit test (bundled from sources): every rank
 * contributes segments derived from its rank, reduces them a few times and
 * exchanges scalars, then posts what it got. The `rounds` reductions use
 * new values each round and a rank-dependent busy pause, so a rank that
 * overwrote its slot or the result slot too early would change a mean.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FixedOrderAllReduce } from '../all-reduce.js';
import type { SharedMemoryLayout } from '../shared-memory.js';
import { contribution } from './contribution.js';

const { memory, rank, lengths, rounds } = workerData as { memory: SharedMemoryLayout; rank: number; lengths: number[]; rounds: number };
const reducer = new FixedOrderAllReduce(memory, rank);
const segmentsOf = (r: number) => lengths.map((len, s) => Float32Array.from({ length: len }, (_, k) => contribution(r, s, k)));
const segments = segmentsOf(rank);
const first = reducer.mean(segments);
const second = reducer.mean(segments);
const scalars = reducer.exchange([rank, rank * 10 + 1]);
const scalars2 = reducer.exchange([-rank]);
const rounded: Float32Array[][] = [];
for (let round = 0; round < rounds; round++) {
  const out = lengths.map((len) => new Float32Array(len));
  // round-robin straggler: the late rank changes every round
  if (round % memory.worldSize === rank) {
    const until = performance.now() + 2;
    while (performance.now() < until);
  }
  reducer.meanInto(segmentsOf(rank + memory.worldSize * (round + 1)), out);
  rounded.push(out);
}
parentPort?.postMessage({ first, second, scalars, scalars2, rounded });
