import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NonFiniteError } from '@tsd-peft/core';
import { isDenseMethod } from '@tsd-peft/tfjs';
import type { BenchBackend, TrainOutcome, TrainSpec } from '../bench-backend.js';
import type { RunConfig } from '../report/schema.js';
import { makeBatchSchedule } from '../tasks/batches.js';
import { BigramModel } from './bigram-model.js';
import { charTokenizer } from './char-tokenizer.js';

/** Options of {@link fakeBackend}. */
export interface FakeBackendOptions {
  /** Runs for which "training" diverges (throws NonFiniteError at step 2). */
  diverges?: (config: RunConfig) => boolean;
  /** Called after each step; tests abort from here. */
  afterStep?: (config: RunConfig, step: number) => void;
}

/**
 * Test helper: a {@link BenchBackend} whose "training" fits a smoothed bigram
 * model to the run's batches, one batch per step — real learning (held-out
 * NLL falls), fully deterministic, and fast. It checkpoints its counts after
 * every step into the run's checkpoint folder and resumes from them, and
 * honours the abort signal between steps, like the real trainer.
 */
export function fakeBackend(options: FakeBackendOptions = {}): BenchBackend & { trained: string[] } {
  const tokenizer = charTokenizer();
  const V = tokenizer.vocabSize;
  const trained: string[] = [];
  const modelFor = (counts: Float64Array): BigramModel => {
    const logits = new Float64Array(V * V);
    for (let a = 0; a < V; a++) {
      let total = 0;
      for (let b = 0; b < V; b++) total += (counts[a * V + b] as number) + 0.1;
      for (let b = 0; b < V; b++) logits[a * V + b] = Math.log(((counts[a * V + b] as number) + 0.1) / total);
    }
    return new BigramModel(V, logits);
  };
  return {
    trained,
    model: { id: 'fake-bigram', source: '--model', parameters: V * V },
    backendName: 'fake',
    tokenizer,
    base: modelFor(new Float64Array(V * V)),
    async train(spec: TrainSpec): Promise<TrainOutcome> {
      const { config, task } = spec;
      trained.push(`${config.task}/${config.method}/r${config.r}/seed${config.seed}`);
      const batchAt = makeBatchSchedule(task.train, { batchSize: config.batchSize, seqLen: config.seqLen, steps: config.steps, seed: config.seed, padId: 0 });
      const file = join(spec.checkpointDir, 'state.json');
      let state = { step: 0, tokens: 0, counts: [] as number[], losses: [] as number[], evals: [] as Array<{ step: number; metrics: Record<string, number | null> }> };
      let resumed: number | null = null;
      if (existsSync(file)) {
        state = JSON.parse(readFileSync(file, 'utf8')) as typeof state;
        resumed = state.step;
        spec.onResume(state.step);
      }
      const counts = state.counts.length > 0 ? Float64Array.from(state.counts) : new Float64Array(V * V);
      // "Learning rate": how much each observed bigram counts; rank makes lower-rank runs learn a little less.
      const weight = config.lr * 1000 * (isDenseMethod(config.method) ? 1.2 : Math.min(1, 0.5 + config.r / 16));
      while (state.step < config.steps) {
        if (spec.signal?.aborted === true)
          return { lossHistory: state.losses, evalHistory: state.evals, trainableParams: 0, trainTimeSec: 0, evalTimeSec: 0, tokens: state.tokens, resumedFromStep: resumed, aborted: true };
        const batch = batchAt(state.step);
        const model = modelFor(counts);
        const scores = await model.scoreRows(batch.ids.map((ids, i) => ({ ids, targetMask: batch.lossMask[i] as number[] })));
        const loss =
          scores.reduce((a, s) => a + s.nllSum, 0) /
          Math.max(
            1,
            scores.reduce((a, s) => a + s.count, 0),
          );
        if (options.diverges?.(config) === true && state.step === 1) throw new NonFiniteError('loss is NaN in step 2; the run stopped before updating', { tensor: 'loss' });
        batch.ids.forEach((ids, i) =>
          ids.forEach((id, t) => {
            const at = (ids[t - 1] as number) * V + id;
            if (t > 0 && batch.lossMask[i]?.[t] === 1) counts[at] = (counts[at] as number) + weight;
          }),
        );
        state.tokens += batch.targetTokens;
        state.step += 1;
        state.losses.push(loss);
        if (state.step % config.evalEvery === 0 || state.step === config.steps) {
          spec.onPhase('eval');
          const metrics = await task.evaluate(modelFor(counts));
          state.evals.push({ step: state.step, metrics });
        }
        state.counts = Array.from(counts);
        mkdirSync(spec.checkpointDir, { recursive: true });
        writeFileSync(file, JSON.stringify(state));
        spec.onStep(state.step, loss);
        options.afterStep?.(config, state.step);
      }
      const isTsd = ['lora-dash', 'lora-init', 'lora-tsd'].includes(config.method);
      const outcome: TrainOutcome = {
        lossHistory: state.losses,
        evalHistory: state.evals,
        trainableParams: isDenseMethod(config.method) ? V * V : 2 * config.r * V,
        trainTimeSec: 0.01 * config.steps,
        evalTimeSec: 0.001,
        tokens: state.tokens,
        resumedFromStep: resumed,
        aborted: false,
      };
      if (isTsd) {
        outcome.tsd = {
          selectedAtStep: config.t,
          modules: [{ module: 'model.layers.0.self_attn.q_proj', indices: [3, 1], changeRates: [0.5, 0.25], spectrum: [0.1, 0.25, 0.05, 0.5] }],
        };
      }
      return outcome;
    },
    dispose() {},
  };
}
