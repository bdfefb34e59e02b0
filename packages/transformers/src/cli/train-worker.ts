/**
 * The worker module of `tsd-peft train --workers N` (built as
 * dist/train-worker.js): each worker sets up its own backend, loads the model
 * and data of the run's plan, and trains its rows of every batch
 * (`fineTuneReplicaJob`); rank 0 writes the outputs when training ends.
 */
import { setupBackend } from '@tsd-peft/tfjs';
import { serveDataParallelWorker } from '@tsd-peft/tfjs/node';
import { fineTuneReplicaJob } from '../parallel/fine-tune-job.js';
import type { TokenBatch } from '../training/data.js';
import { fineTuneOptionsOf, prepareRun, writeOutputs, type TrainPlan } from './train-command.js';

await serveDataParallelWorker<TokenBatch, number>(async (context) => {
  const plan = context.workerData as TrainPlan;
  await setupBackend(plan.backend ?? 'wasm');
  const prepared = await prepareRun(plan);
  const job = fineTuneReplicaJob(context, {
    ...fineTuneOptionsOf(plan, prepared),
    data: prepared.source,
    collect: (result, adapter) => (context.rank === 0 ? { written: writeOutputs(plan, adapter, result) } : null),
  });
  const disposeJob = job.dispose;
  job.dispose = () => {
    disposeJob?.();
    prepared.model.dispose();
  };
  return job;
});
