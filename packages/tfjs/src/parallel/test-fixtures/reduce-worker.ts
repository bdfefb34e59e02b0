/**
 * Worker of the all-reduce unit test (bundled from sources): every rank
 * contributes segments derived from its rank, reduces them a few times and
 * exchanges scalars, then posts what it got.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FixedOrderAllReduce } from '../all-reduce.js';
import type { SharedMemoryLayout } from '../shared-memory.js';
import { contribution } from './contribution.js';

const { memory, rank, lengths } = workerData as { memory: SharedMemoryLayout; rank: number; lengths: number[] };
const reducer = new FixedOrderAllReduce(memory, rank);
const segments = lengths.map((len, s) => Float32Array.from({ length: len }, (_, k) => contribution(rank, s, k)));
const first = reducer.mean(segments);
const second = reducer.mean(segments);
const scalars = reducer.exchange([rank, rank * 10 + 1]);
const scalars2 = reducer.exchange([-rank]);
parentPort?.postMessage({ first, second, scalars, scalars2 });
