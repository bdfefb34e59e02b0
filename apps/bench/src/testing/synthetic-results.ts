import { Rng } from '@tsd-peft/core';
import { isDenseMethod } from '@tsd-peft/tfjs';
import { RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION, runKey, type MethodName, type ResultsFile, type RunRecord, type TaskInfo } from '../report/schema.js';

/** One group of synthetic runs: final primary metric = mean + noise·N(0,1) per seed. */
export interface SyntheticGroup {
  task: string;
  method: MethodName;
  r: number;
  mean: number;
  noise: number;
  seeds: number;
}

const TASKS: Record<string, TaskInfo> = {
  shakespeare: {
    name: 'shakespeare',
    metric: { key: 'val_nll', label: 'val NLL', better: 'lower', description: 'held-out NLL' },
    secondary: [{ key: 'perplexity', label: 'perplexity', better: 'lower', description: 'exp NLL' }],
    sources: ['data/tinyshakespeare/input.txt'],
    evalSize: 2048,
    baseline: { val_nll: 4.84, perplexity: Math.exp(4.84) },
  },
  sst2: {
    name: 'sst2',
    metric: { key: 'accuracy', label: 'accuracy', better: 'higher', description: 'label scoring accuracy' },
    secondary: [],
    sources: ['data/sst2/dev.tsv'],
    evalSize: 200,
    baseline: { accuracy: 0.5 },
  },
};

/**
 * Test helper: a valid results file with the given groups, deterministic
 * noise, plausible loss curves and, for TSD methods, direction selections
 * that overlap strongly within a task and weakly across tasks.
 */
export function syntheticResults(groups: readonly SyntheticGroup[], seed = 1): ResultsFile {
  const rng = Rng.fromSeed(seed);
  const runs: RunRecord[] = [];
  for (const g of groups) {
    const task = TASKS[g.task] ?? (TASKS['shakespeare'] as TaskInfo);
    for (let s = 0; s < g.seeds; s++) {
      const value = g.mean + g.noise * rng.normal();
      const config = {
        task: g.task,
        method: g.method,
        r: g.r,
        alpha: 2 * g.r,
        t: 10,
        s: 4,
        seed: s,
        steps: 40,
        lr: 3e-3,
        batchSize: 4,
        seqLen: 64,
        targetModules: ['q_proj', 'v_proj'],
        optimizer: 'adam',
        schedule: 'constant',
        warmupSteps: 0,
        evalEvery: 20,
        backend: 'cpu',
      };
      const metrics = { [task.metric.key]: value, ...(task.secondary.length > 0 ? { perplexity: Math.exp(value) } : {}) };
      const taskOffset = g.task === 'sst2' ? 20 : 0;
      const run: RunRecord = {
        key: runKey(config),
        status: 'done',
        config,
        primary: task.metric.key,
        final: metrics,
        best: metrics,
        bestStep: 40,
        evalCurve: [
          { step: 0, metrics: task.baseline },
          { step: 40, metrics },
        ],
        lossCurve: Array.from({ length: 40 }, (_, i) => ({ step: i, loss: 5 - 1.5 * (1 - Math.exp(-i / 10)) + 0.05 * rng.normal() })),
        trainableParams: isDenseMethod(g.method) ? 264_128 : g.r * 1024 + (g.method.includes('dash') || g.method === 'lora-tsd' ? 40 : 0),
        wallTimeSec: 10 + rng.nextFloat(),
        trainTimeSec: 8,
        evalTimeSec: 2,
        tokensPerSec: 1000,
        peakRssMiB: 300,
      };
      if (g.method === 'lora-dash' || g.method === 'lora-tsd' || g.method === 'lora-init') {
        run.tsd = {
          selectedAtStep: g.method === 'lora-init' ? 0 : 10,
          modules: ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj'].map((module, m) => {
            const spectrum = Array.from({ length: 64 }, (_, i) => 1e-3 * (1 + i / 8) * (1 + 0.1 * rng.nextFloat()));
            const indices = [63 - taskOffset - m, 59 - taskOffset, 55 - taskOffset, s % 2 === 0 ? 58 - taskOffset : 40 - taskOffset / 2];
            for (const i of indices) spectrum[i] = 0.05 + 0.01 * rng.nextFloat();
            return { module, indices, changeRates: indices.map((i) => spectrum[i] as number), spectrum };
          }),
        };
      }
      runs.push(run);
    }
  }
  const used = [...new Set(groups.map((g) => g.task))];
  return {
    schema: RESULTS_SCHEMA,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:10:00.000Z',
    preset: 'test',
    model: { id: 'stories260K', source: 'fixtures', parameters: 264_128 },
    tasks: used.map((t) => TASKS[t] ?? (TASKS['shakespeare'] as TaskInfo)),
    environment: { node: process.versions.node, platform: 'linux-x64', cpus: 2, backend: 'cpu', package: '0.0.0' },
    runs,
  };
}
