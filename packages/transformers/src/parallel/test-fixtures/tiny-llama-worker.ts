/** Worker module of the causal-LM data-parallel test (bundled from sources by the test). */
import { setupBackend } from '@tsd-peft/tfjs';
import { serveDataParallelWorker } from '@tsd-peft/tfjs/node';
import { tinyLlamaJob } from './tiny-llama-job.js';

await serveDataParallelWorker(async (context) => {
  await setupBackend('wasm');
  return tinyLlamaJob(context);
});
