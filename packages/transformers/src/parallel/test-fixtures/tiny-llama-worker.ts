/** Worker module of the causal-LM data-parallel test (bundled from sources by the test). */
import { serveDataParallelWorker, setupBackend } from '@tsd-peft/tfjs';
import { tinyLlamaJob } from './tiny-llama-job.js';

await serveDataParallelWorker(async (context) => {
  await setupBackend('wasm');
  return tinyLlamaJob(context);
});
