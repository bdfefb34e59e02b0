/**
 * Activation memory with and without gradient checkpointing (issue 19, item
 * 3): one LoRA (r = 8, q/v) training step of a real-shape model on one
 * sequence of `seq` tokens, its gradient pass under `tf.profile`, whose
 * `peakBytes` is the most tensor memory live at once. Run once per setting,
 * each in its own process, so the wasm heap (which only grows) and the peak
 * RSS are the step's own. Prints one JSON line.
 * Arguments: { shape, seq, gradientCheckpointing }; bundled by perf.scale.mjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, type FrozenDtype } from '@tsd-peft/core';
import { setupBackend, type AdapterModel } from '@tsd-peft/tfjs';
import { perfBatch, perfJob, wasmHeapBytes } from './perf.model.js';
import { REAL_SHAPES, type ShapeName } from './perf.shapes.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { shape: ShapeName; seq: number; gradientCheckpointing: boolean; pretransposeFrozen?: boolean; frozenDtype?: FrozenDtype };
// tfjs-wasm's abort on an exhausted heap ends the process from an exception
// handler of its own; this still reports where the heap stood.
let reported = false;
process.on('exit', () => {
  if (!reported) console.log(JSON.stringify({ error: 'aborted (wasm heap exhausted)', wasmHeapBytes: wasmHeapBytes(), peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
});
try {
  await setupBackend('wasm');
  const shape = { name: args.shape, batch: 1, seq: args.seq };
  const job = perfJob({
    rank: 0,
    worldSize: 1,
    workerData: {
      method: 'lora',
      steps: 1,
      shape,
      gradientCheckpointing: args.gradientCheckpointing,
      ...(args.pretransposeFrozen === undefined ? {} : { pretransposeFrozen: args.pretransposeFrozen }),
      ...(args.frozenDtype === undefined ? {} : { frozenDtype: args.frozenDtype }),
    },
  });
  const model = job.model as AdapterModel;
  const vars = [...model.trainableVariables().values()];
  const batch = perfBatch(0, 1, { ...shape, vocab: REAL_SHAPES[args.shape].vocab_size });
  const ctx = { step: 0, microBatch: 0, rng: Rng.fromSeed(0) };
  const before = tf.memory().numBytes;
  const t0 = performance.now();
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => job.lossFn(batch, ctx), vars);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  });
  const seconds = (performance.now() - t0) / 1000;
  reported = true;
  console.log(
    JSON.stringify({
      gradientCheckpointing: args.gradientCheckpointing,
      peakTensorBytes: profile.peakBytes - before,
      modelBytes: before,
      seconds,
      wasmHeapBytes: wasmHeapBytes(),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  );
  job.dispose?.();
} catch (error) {
  reported = true;
  console.log(JSON.stringify({ error: error instanceof Error ? error.message.split('\n')[0] : String(error), wasmHeapBytes: wasmHeapBytes(), peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
}
