import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { NonFiniteError, Rng } from '@tsd-peft/core';
import {
  describeWebGpuBackend,
  indexedBatches,
  injectAdapters,
  measureMatMulPeak,
  prefetchHostValues,
  baseWeightShape,
  baseWeightTensors,
  releaseWebGpuBufferPool,
  resetPeakGpuMemory,
  setupBackend,
  train,
  webGpuBackendInfo,
  webGpuDispatchCount,
  webGpuMemory,
  type BackendName,
  type MatMulPeak,
} from '@tsd-peft/tfjs';
import { causalLmLoss, disposeWeights, randomCausalLM } from '@tsd-peft/transformers';
import { benchAlpha } from '../presets.js';
import { llamaFlopShape, llamaParameters, type GpuPreset } from './gpu-preset.js';
import { trainingFlopsPerToken } from './model-flops.js';

/** The exact setup of a run, for reporting a GPU number with it. */
export interface GpuRunSetup {
  node: string;
  platform: string;
  /** Installed versions (or `not installed`) of the packages on the GPU path. */
  packages: Record<'@tensorflow/tfjs-core' | '@tensorflow/tfjs-backend-webgpu' | 'webgpu', string>;
  /** Dawn instance toggles passed to `webgpu`'s `create()`. */
  dawnFlags: string[];
}

/** What one `tsd-bench gpu` run measured. */
export interface GpuThroughputResult {
  preset: GpuPreset['name'];
  backend: string;
  /** The adapter (webgpu) or `cpu`/`wasm` as-is. */
  device: string;
  setup: GpuRunSetup;
  softwareAdapter: boolean;
  parameters: number;
  trainableParameters: number;
  method: GpuPreset['method'];
  batch: number;
  seq: number;
  timedSteps: number;
  /** Every step's loss, warm-up included. */
  losses: number[];
  /** Trained tokens (batch × seq) per second over the timed steps. */
  tokensPerSecond: number;
  secondsPerStep: number;
  flopsPerToken: number;
  /** Achieved model FLOP/s over the timed steps, in GFLOP/s. */
  modelGflops: number;
  matmulPeak: MatMulPeak;
  /** modelGflops / matmulPeak.peakGflops. */
  mfu: number;
  /** Compute dispatches per timed step (webgpu; null on host backends): each costs host time however small its work. */
  dispatchesPerStep: number | null;
  /** Peak bytes held by the webgpu backend (live + pooled) during training; null on host backends. */
  peakGpuBytes: number | null;
  /** Bytes the pool released after the run (tfjs keeps freed buffers otherwise). */
  releasedGpuBytes: number;
}

/** Options of {@link runGpuThroughput}. */
export interface GpuThroughputOptions {
  preset: GpuPreset;
  backend: BackendName;
  /** Accept a software WebGPU adapter (the smoke test on llvmpipe); default true (explicit backend). */
  allowSoftware?: boolean;
  /**
   * Dawn instance toggles, e.g. `enable-dawn-features=disable_robustness,skip_validation`
   * (faster large matmuls on a GPU, without bounds checks). They apply to the
   * peak measurement and the training alike, so MFU compares like with like.
   */
  dawnFlags?: readonly string[];
  seed?: number;
  log?: (line: string) => void;
}

/**
 * Trains the preset's random-weight Llama through the real trainer (`train`,
 * Adam, LoRA-Dash launch included) on `backend`, and reports tokens/s, model
 * FLOP utilisation against the adapter's own measured fp32 matmul peak, and
 * peak GPU memory; the buffer pool is released afterwards. Batches are
 * random token ids (speed does not depend on the text).
 */
export async function runGpuThroughput(options: GpuThroughputOptions): Promise<GpuThroughputResult> {
  const { preset } = options;
  const log = options.log ?? (() => undefined);
  const dawnFlags = [...(options.dawnFlags ?? [])];
  const backend = await setupBackend(options.backend, { webgpu: { allowSoftware: options.allowSoftware ?? true, dawnFlags } });
  const info = webGpuBackendInfo();
  const device = backend === 'webgpu' ? describeWebGpuBackend() : backend;
  log(`backend ${backend} (${device})`);
  const matmulPeak = await measureMatMulPeak({ sizes: preset.matmulSizes });
  log(`fp32 matmul peak ${matmulPeak.peakGflops.toFixed(1)} GFLOP/s (${matmulPeak.timings.map((t) => `${t.n}: ${t.gflops.toFixed(1)}`).join(', ')})`);
  releaseWebGpuBufferPool();
  resetPeakGpuMemory();

  const { replica, weights } = randomCausalLM({ ...preset.llama }, options.seed ?? 0);
  const { batch, seq } = preset;
  const vocab = preset.llama.vocab_size;
  let model: ReturnType<typeof injectAdapters> | undefined;
  let measured: GpuThroughputResult;
  try {
    await prefetchHostValues([...weights.values()].filter((w) => baseWeightShape(w).length === 2).flatMap(baseWeightTensors));
    model = injectAdapters(weights, { method: preset.method, r: preset.r, alpha: benchAlpha(preset.r), targetModules: preset.targetModules, t: preset.t, s: preset.s, seed: 1 });
    const adapters = model;
    const batchAt = (i: number): Int32Array => {
      const rng = Rng.fromSeed(1000 + i);
      return Int32Array.from({ length: batch * seq }, () => rng.nextInt(vocab));
    };
    const stepEnds: number[] = [];
    const dispatchesAtStepEnd: (number | null)[] = [];
    const result = await train({
      model: adapters,
      lossFn: (ids: Int32Array) =>
        tf.tidy(() => {
          const inputIds = tf.tensor2d(ids, [batch, seq], 'int32');
          const logits = replica.forward({ inputIds }, weights, adapters);
          return causalLmLoss(logits, tf.tensor2d(ids, [batch, seq], 'int32'));
        }),
      data: indexedBatches(batchAt),
      steps: preset.warmupSteps + preset.steps,
      lr: preset.lr,
      onProgress: (event) => {
        stepEnds.push(performance.now());
        dispatchesAtStepEnd.push(webGpuDispatchCount());
        log(`step ${event.step}/${event.totalSteps} loss ${event.loss.toFixed(4)}`);
      },
    });
    const losses = result.lossHistory;
    if (!losses.every(Number.isFinite)) throw new NonFiniteError(`non-finite loss in [${losses.join(', ')}]`, { tensor: 'loss' });
    // The trainer reads each step's loss back before the next begins, so step boundaries are real.
    const seconds = ((stepEnds[stepEnds.length - 1] as number) - (stepEnds[preset.warmupSteps - 1] as number)) / 1000;
    const tokensPerSecond = (preset.steps * batch * seq) / seconds;
    const flopsPerToken = trainingFlopsPerToken(llamaFlopShape(preset.llama), seq, preset.method);
    const modelGflops = (flopsPerToken * tokensPerSecond) / 1e9;
    const peakGpuBytes = webGpuMemory()?.peakAllocatedBytes ?? null;
    const firstTimed = dispatchesAtStepEnd[preset.warmupSteps - 1];
    const last = dispatchesAtStepEnd[dispatchesAtStepEnd.length - 1];
    const dispatchesPerStep = firstTimed == null || last == null ? null : (last - firstTimed) / preset.steps;
    const trainableParameters = [...adapters.trainableVariables().values()].reduce((a, v) => a + v.size, 0);
    measured = {
      preset: preset.name,
      backend,
      device,
      // The device's own flags: an earlier registration in this process wins over `dawnFlags`.
      setup: runSetup(info?.dawnFlags ?? []),
      softwareAdapter: info?.adapter.isSoftware ?? false,
      parameters: llamaParameters(preset.llama),
      trainableParameters,
      method: preset.method,
      batch,
      seq,
      timedSteps: preset.steps,
      losses,
      tokensPerSecond,
      secondsPerStep: seconds / preset.steps,
      flopsPerToken,
      modelGflops,
      matmulPeak,
      mfu: modelGflops / matmulPeak.peakGflops,
      dispatchesPerStep,
      peakGpuBytes,
      releasedGpuBytes: 0,
    };
  } finally {
    model?.dispose();
    replica.dispose();
    disposeWeights(weights);
  }
  // Between runs: tfjs would otherwise keep every freed buffer of this run allocated.
  measured.releasedGpuBytes = releaseWebGpuBufferPool();
  return measured;
}

function runSetup(dawnFlags: string[]): GpuRunSetup {
  const require = createRequire(import.meta.url);
  const version = (name: string): string => {
    try {
      return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  return {
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    packages: {
      '@tensorflow/tfjs-core': version('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-webgpu': version('@tensorflow/tfjs-backend-webgpu'),
      webgpu: version('webgpu'),
    },
    dawnFlags,
  };
}

/** The setup in one line, as the README quotes a GPU number with it. */
export function gpuSetupLine(setup: GpuRunSetup): string {
  const packages = Object.entries(setup.packages)
    .map(([name, v]) => `${name} ${v}`)
    .join(', ');
  return `setup: Node ${setup.node} ${setup.platform}; ${packages}; Dawn flags ${setup.dawnFlags.length === 0 ? 'none' : setup.dawnFlags.join(' ')}`;
}

/** One human line for a result. */
export function gpuThroughputLine(r: GpuThroughputResult): string {
  const mem = r.peakGpuBytes === null ? 'n/a' : `${(r.peakGpuBytes / 2 ** 20).toFixed(1)} MiB`;
  return (
    `${r.preset}: ${(r.parameters / 1e6).toFixed(r.parameters < 1e7 ? 3 : 1)}M-param Llama, ${r.method}, batch ${r.batch}×${r.seq} on ${r.backend} (${r.device}): ` +
    `${r.tokensPerSecond.toFixed(0)} tokens/s, ${r.secondsPerStep.toFixed(3)} s/step, ${r.modelGflops.toFixed(r.modelGflops < 10 ? 3 : 1)} model GFLOP/s = ` +
    `${(100 * r.mfu).toFixed(1)}% MFU of the ${r.matmulPeak.peakGflops.toFixed(1)} GFLOP/s matmul peak, peak GPU memory ${mem}` +
    (r.dispatchesPerStep === null ? '' : `, ${r.dispatchesPerStep.toFixed(0)} dispatches/step`) +
    (r.softwareAdapter ? ' [software adapter: not a GPU number]' : '')
  );
}
