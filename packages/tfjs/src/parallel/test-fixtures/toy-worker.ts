/** Worker module of the data-parallel tests (bundled from sources by the test). */
import { setupBackend } from '../../backend/setup.js';
import { serveDataParallelWorker } from '../worker-runtime.js';
import { toyJob } from './toy-job.js';

await serveDataParallelWorker(async (context) => {
  await setupBackend('wasm');
  return toyJob(context);
});
