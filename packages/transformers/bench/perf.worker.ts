/** Data-parallel worker of the perf bench (bundled from sources by perf.mjs). */
import { readFileSync } from 'node:fs';
import { setupBackend } from '@tsd-peft/tfjs';
import { serveDataParallelWorker } from '@tsd-peft/tfjs/node';
import { perfJob } from './perf.model.js';

/**
 * CPU seconds of this thread alone (Linux: utime + stime of
 * /proc/thread-self, read from the calling thread), or null elsewhere. Next
 * to a rank's wall time it tells slower work from CPU taken by other
 * processes: a rank with the same CPU seconds but more wall time waited to run.
 */
function threadCpuSeconds(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12]: utime, stime (fields 14 and 15 of proc(5)) in clock ticks of 1/100 s
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

await serveDataParallelWorker(async (context) => {
  await setupBackend('wasm');
  const job = perfJob(context);
  const collect = job.collect;
  const startCpu = threadCpuSeconds();
  job.collect = (result) => {
    const end = threadCpuSeconds();
    return { ...(collect?.(result) as object), threadCpuSeconds: end === null || startCpu === null ? null : end - startCpu };
  };
  return job;
});
