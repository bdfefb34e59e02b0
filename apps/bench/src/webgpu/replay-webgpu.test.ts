import * as tf from '@tensorflow/tfjs-core';
import { fixturePath } from '@tsd-peft/core/testing';
import { describeWebGpuBackend, releaseWebGpuBufferPool, setupBackend, webGpuDeviceErrors, webGpuMemory } from '@tsd-peft/tfjs';
import {
  finalAdapterTensors,
  fineTune,
  loadCausalLM,
  readTrajectoryFolder,
  REPLAY_TOLERANCES,
  relativeDiff,
  trajectoryFineTuneOptions,
  type ReplayRun,
  type TrajectoryFolder,
} from '@tsd-peft/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The reference LoRA-Dash trajectory (stories260K, q/v, r = 4, s = 4, launch
 * after t = 20 steps) replayed on Dawn's WebGPU device and on wasm, through
 * `fineTune` — the code users run. On a CPU-only machine the WebGPU device is
 * Mesa's llvmpipe behind Dawn's OpenGL ES backend (compatibility mode): slow
 * (~0.7 s a step here against ~0.2 s on wasm) but a real WebGPU
 * implementation running tfjs's WGSL kernels, so this never skips. To keep the
 * suite short it replays the first 25 of the 40 steps: the 20 pre-launch
 * steps, the launch (SVD on the CPU in core) and 5 dash steps.
 */
const STEPS = 25;
const dir = fixturePath('reference', 'lora-dash-trajectory');
const base = fixturePath('reference', 'hf', 'stories260K');

interface PrefixRun {
  losses: number[];
  selected: Map<string, number[]>;
  final: ReplayRun['final'];
  /** Live tensor bytes (tf.memory) after steps t − 1 and t + 1 (the launch runs right after step t, d's Adam state starts at t + 1). */
  bytesAroundLaunch: [number, number];
  peakGpuBytes: number | null;
  seconds: number;
}

async function replayPrefix(folder: TrajectoryFolder): Promise<PrefixRun> {
  const { config } = folder;
  const model = await loadCausalLM(base, { tokenizer: false });
  const losses: number[] = [];
  const bytes: number[] = [];
  const started = performance.now();
  try {
    const { adapter } = await fineTune(
      trajectoryFineTuneOptions(model, folder, 'lora_dash', {
        steps: STEPS,
        onProgress: (event) => {
          losses.push(event.loss);
          if (event.step === config.t - 1 || event.step === config.t + 1) bytes.push(tf.memory().numBytes);
        },
      }),
    );
    try {
      return {
        losses,
        selected: new Map([...adapter.tsdSelections()].map(([m, info]) => [m, [...(info.dashSelected ?? [])]])),
        // Awaited reads: dataSync cannot read webgpu tensors in Node.
        final: await finalAdapterTensors(adapter),
        bytesAroundLaunch: [bytes[0] as number, bytes[1] as number],
        peakGpuBytes: webGpuMemory()?.peakAllocatedBytes ?? null,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      adapter.dispose();
    }
  } finally {
    model.dispose();
  }
}

let folder: TrajectoryFolder;
let wasm: PrefixRun;
let gpu: PrefixRun;
let releasedBytes = 0;

beforeAll(async () => {
  folder = readTrajectoryFolder(dir);
  await setupBackend('wasm');
  wasm = await replayPrefix(folder);
  expect(await setupBackend('webgpu')).toBe('webgpu');
  gpu = await replayPrefix(folder);
  releasedBytes = releaseWebGpuBufferPool();
  console.log(
    `replay prefix (${STEPS} steps): wasm ${wasm.seconds.toFixed(1)} s, webgpu ${gpu.seconds.toFixed(1)} s on ${describeWebGpuBackend()}; ` +
      `max |loss webgpu − wasm| ${Math.max(...gpu.losses.map((l, i) => Math.abs(l - (wasm.losses[i] as number)))).toExponential(2)}; ` +
      `peak GPU ${((gpu.peakGpuBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, pool released ${(releasedBytes / 2 ** 20).toFixed(1)} MiB`,
  );
});

afterAll(async () => {
  await setupBackend('wasm');
});

describe('LoRA-Dash on webgpu (Dawn, llvmpipe in CI) against wasm and the reference trajectory', () => {
  it('matches the wasm losses step for step, and both match the torch reference', () => {
    expect(gpu.losses).toHaveLength(STEPS);
    for (let i = 0; i < STEPS; i++) {
      const g = gpu.losses[i] as number;
      expect(Number.isFinite(g), `step ${i}`).toBe(true);
      // Both backends are fp32 and differ only in summation order (tiled WGSL
      // matmuls vs XNNPACK); 25 Adam steps keep that at ~1e-6, the bar is the
      // replay's own 1e-4 (REPLAY_TOLERANCES.loss), applied here to each pair.
      expect(Math.abs(g - (wasm.losses[i] as number)), `webgpu vs wasm, step ${i}`).toBeLessThan(REPLAY_TOLERANCES.loss);
      expect(Math.abs(g - (folder.losses.loraDash[i] as number)), `webgpu vs torch, step ${i}`).toBeLessThan(REPLAY_TOLERANCES.loss);
    }
  });

  it('selects the reference directions at launch (SVD on the CPU, in core)', () => {
    expect(gpu.selected.size).toBe(folder.launch.size);
    for (const [module, ref] of folder.launch) {
      expect(gpu.selected.get(module), module).toEqual(ref.topIndex);
      expect(wasm.selected.get(module), module).toEqual(ref.topIndex);
    }
  });

  it('moves only U_s, V_s (both layouts), d and d’s Adam moments to the device at launch', () => {
    // Live bytes after step t+1 minus after step t−1: per module U [out,s], V_sᵀ
    // [s,in] and their transposes, d [s] and Adam's m, v for d — nothing
    // else (W and its SVD stay on the host). Every other tensor is replaced
    // by one of equal size, so the difference is exact.
    const { s } = folder.config;
    let expected = 0;
    for (const [module, t] of gpu.final) {
      const out = t.B.length / folder.config.r;
      const inF = t.A.length / folder.config.r;
      expected += 4 * (2 * out * s + 2 * s * inF + 3 * s);
      expect(t.d, module).toHaveLength(s);
    }
    expect(gpu.bytesAroundLaunch[1] - gpu.bytesAroundLaunch[0]).toBe(expected);
    expect(wasm.bytesAroundLaunch[1] - wasm.bytesAroundLaunch[0]).toBe(expected);
  });

  it('ends with the same A, B and d as wasm, and d on the reference d history', () => {
    const history = folder.dHistory?.[STEPS - 1 - folder.config.t];
    expect(history).toBeDefined();
    for (const [module, w] of wasm.final) {
      const g = gpu.final.get(module);
      expect(g, module).toBeDefined();
      if (g === undefined) continue;
      // The replay's relative bar (max|x − ref| / max|ref|, 1e-3) between the two backends.
      expect(relativeDiff(g.A, w.A), `${module} A`).toBeLessThan(REPLAY_TOLERANCES.relative);
      expect(relativeDiff(g.B, w.B), `${module} B`).toBeLessThan(REPLAY_TOLERANCES.relative);
      expect(relativeDiff(g.d ?? [], w.d ?? []), `${module} d`).toBeLessThan(REPLAY_TOLERANCES.relative);
      expect(relativeDiff(g.d ?? [], (history as Record<string, number[]>)[module] ?? []), `${module} d vs torch`).toBeLessThan(REPLAY_TOLERANCES.relative);
    }
  });

  it('tracks peak GPU memory and releases the buffer pool after the run', () => {
    expect(gpu.peakGpuBytes).toBeGreaterThan(0);
    expect(wasm.peakGpuBytes).toBeNull();
    expect(releasedBytes).toBeGreaterThan(0);
    const after = webGpuMemory();
    // Everything the run allocated was disposed: what is left allocated is only what live tensors use.
    expect(after?.allocatedBytes).toBe(after?.usedBytes);
    expect(webGpuDeviceErrors()).toEqual([]);
  });
});
