import { cpus } from 'node:os';
import { ConfigError } from '@tsd-peft/core';
import { baseWeightShape, isDenseMethod, measureMatMulPeak, setupBackend, webGpuBackendInfo, type AdapterMethod, type BackendName, type EvalResult } from '@tsd-peft/tfjs';
import { directoryCheckpointStore } from '@tsd-peft/tfjs/node';
import { fineTune, loadCausalLM, tokenBatchFromRows } from '@tsd-peft/transformers';
import type { BenchOptions } from '../args.js';
import type { BenchBackend, TrainOutcome, TrainSpec } from '../bench-backend.js';
import { resolveModel } from '../model/resolve-model.js';
import { jsonNumber, type EvalPoint } from '../report/schema.js';
import { makeBatchSchedule } from '../tasks/batches.js';
import { benchTokenizer } from './bench-tokenizer.js';
import { scoringModelFor } from './tfjs-scoring.js';
import { tsdRecordOf } from './tsd-record.js';
import { releaseGpuAfterRun } from '../webgpu/gpu-run-memory.js';
import { flopShapeOf, trainingFlopsPerToken } from '../webgpu/model-flops.js';

/** Checkpoints per run: often enough that a kill loses little, rarely enough to cost nothing. */
const CHECKPOINTS_PER_RUN = 4;

function metricsOf(result: EvalResult): Record<string, number | null> {
  const values = typeof result === 'number' ? { value: result } : result;
  const metrics: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(values)) metrics[k] = jsonNumber(v);
  return metrics;
}

/**
 * The real {@link BenchBackend}: sets up TF.js (`--backend` or the best
 * available), resolves and loads the model with @tsd-peft/transformers, and
 * trains each run through its `fineTune` — the same path as the `tsd-peft
 * train` CLI: adapters injected into the frozen weights (`full` trains every
 * linear projection densely), Adam at a constant LR, the run's seeded data
 * order, the masked next-token cross-entropy, evaluations every `evalEvery`
 * steps and after the last, and checkpoints that a re-run resumes bit for bit
 * (LoRA-Dash's launch with its change rates included).
 */
export async function openTfjsBackend(o: BenchOptions, log: (line: string) => void): Promise<BenchBackend> {
  const backendName = await setupBackend((o.backend ?? undefined) as BackendName | undefined);
  const resolved = await resolveModel({ model: o.model, tokenizer: o.tokenizer });
  log(`model: ${resolved.spec} (${resolved.source}), TF.js backend ${backendName}, ${cpus().length} CPU(s)`);
  const lm = await loadCausalLM(resolved.spec, resolved.tokenizer === undefined ? {} : { tokenizer: resolved.tokenizer });
  if (lm.tokenizer === null) {
    lm.dispose();
    throw new ConfigError('the model has no tokenizer.json; pass --tokenizer (a folder or a SentencePiece .model)', { file: resolved.spec });
  }
  const tokenizer = benchTokenizer(lm.tokenizer, lm.config.vocabSize);
  // On a GPU, MFU needs the adapter's own fp32 matmul peak (small sizes on a software adapter: seconds, not minutes).
  const gpu = webGpuBackendInfo();
  const matmulPeak = backendName === 'webgpu' ? await measureMatMulPeak(gpu?.adapter.isSoftware === true ? { sizes: [128, 256] } : {}) : null;
  if (matmulPeak !== null) log(`webgpu: fp32 matmul peak ${matmulPeak.peakGflops.toFixed(1)} GFLOP/s (the MFU denominator)`);
  const flopShape = flopShapeOf(lm.weights, lm.config);
  let parameters = 0;
  // a tied head is the embedding itself: count once
  for (const t of new Set(lm.weights.values())) parameters += baseWeightShape(t).reduce((a, b) => a * b, 1);

  async function trainRun(spec: TrainSpec): Promise<TrainOutcome> {
    const { config, task } = spec;
    const batchAt = makeBatchSchedule(task.train, {
      batchSize: config.batchSize,
      seqLen: config.seqLen,
      steps: config.steps,
      seed: config.seed,
      padId: tokenizer.padId,
    });
    const store = directoryCheckpointStore(spec.checkpointDir);
    const saved = await store.steps();
    if (saved.length > 0) spec.onResume(Math.max(...saved));
    let lastElapsed = Number.NaN;
    const { adapter, result } = await fineTune({
      model: lm,
      adapter: {
        method: config.method as AdapterMethod,
        r: Math.max(1, config.r),
        alpha: config.alpha > 0 ? config.alpha : 2,
        targetModules: isDenseMethod(config.method) ? 'all-linear' : config.targetModules,
        seed: config.seed,
        t: config.t,
        s: config.s,
      },
      data: (i) => tokenBatchFromRows(batchAt(i)),
      steps: config.steps,
      lr: config.lr,
      optimizer: { type: 'adam' },
      checkpoint: { store, every: Math.max(1, Math.floor(config.steps / CHECKPOINTS_PER_RUN)) },
      resume: true,
      evaluate: {
        every: config.evalEvery,
        run: async ({ adapter: trained }) => {
          spec.onPhase('eval');
          return task.evaluate(scoringModelFor(lm, trained, tokenizer.padId));
        },
      },
      onProgress: (event) => {
        lastElapsed = event.elapsedSeconds;
        spec.onStep(event.step, event.loss);
      },
      ...(spec.signal === undefined ? {} : { signal: spec.signal }),
    });
    let outcome: TrainOutcome;
    let peakGpuBytes: number | null;
    let modelFlops = 0;
    try {
      const evalHistory: EvalPoint[] = [];
      let evalSeconds = 0;
      let evalBeforeLast = 0;
      for (const record of result.evalHistory) {
        // The trainer times each evaluation itself (EvalRecord.seconds), and checkpoints keep it across resumes.
        const seconds = record.seconds ?? 0;
        evalHistory.push({ step: record.step, metrics: metricsOf(record.result) });
        evalSeconds += seconds;
        if (record.step < result.completedSteps) evalBeforeLast += seconds;
      }
      // The trainer's elapsed time (summed over resumed sessions) is read before the step's own evaluation.
      const trainTimeSec = Number.isFinite(lastElapsed) ? Math.max(0, lastElapsed - evalBeforeLast) : 0;
      let tokens = 0;
      // Model FLOPs count every processed position, padding included: the kernels compute it.
      for (let i = 0; i < result.completedSteps; i++) {
        const batch = batchAt(i);
        tokens += batch.targetTokens;
        const len = batch.ids[0]?.length ?? 0;
        modelFlops += batch.ids.length * len * trainingFlopsPerToken(flopShape, len, config.method as AdapterMethod);
      }
      const trainableParams = [...adapter.trainableVariables().values()].reduce((a, v) => a + v.size, 0);
      outcome = {
        lossHistory: result.lossHistory,
        evalHistory,
        trainableParams,
        trainTimeSec,
        evalTimeSec: evalSeconds,
        tokens,
        resumedFromStep: result.resumedFromStep,
        aborted: result.stopped === 'aborted',
      };
      // A resumed run restores the selections with their change rates, so the record is read at the end.
      const tsd = tsdRecordOf(adapter, config);
      if (tsd !== undefined) outcome.tsd = tsd;
    } finally {
      adapter.dispose();
      peakGpuBytes = releaseGpuAfterRun(log); // peak GPU memory per run; the pool is released between runs
    }
    if (matmulPeak !== null && peakGpuBytes !== null && outcome.trainTimeSec > 0) {
      const modelGflops = modelFlops / outcome.trainTimeSec / 1e9;
      outcome.gpu = {
        peakMemoryMiB: peakGpuBytes / 2 ** 20,
        modelGflops,
        matmulPeakGflops: matmulPeak.peakGflops,
        mfu: modelGflops / matmulPeak.peakGflops,
        softwareAdapter: gpu?.adapter.isSoftware ?? false,
      };
    }
    return outcome;
  }

  return {
    model: { id: resolved.spec, source: resolved.source, parameters },
    backendName,
    tokenizer,
    base: scoringModelFor(lm, lm.frozen, tokenizer.padId),
    train: trainRun,
    dispose: () => lm.dispose(),
  };
}
