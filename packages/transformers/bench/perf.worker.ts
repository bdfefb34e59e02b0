/** Data-parallel worker of the perf bench (bundled from sources by perf.mjs). */
import { setupBackend } from '@tsd-peft/tfjs';
import { serveDataParallelWorker } from '@tsd-peft/tfjs/node';
import { perfJob } from './perf.model.js';

await serveDataParallelWorker(async (context) => {
  await setupBackend('wasm');
  return perfJob(context);
});
