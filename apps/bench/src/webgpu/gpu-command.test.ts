import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setupBackend, webGpuDeviceErrors } from '@tsd-peft/tfjs';
import { randomCausalLM } from '@tsd-peft/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { runGpuCommand } from './gpu-command.js';
import { GPU_PRESET, GPU_SMOKE_PRESET, llamaFlopShape, llamaParameters } from './gpu-preset.js';
import { flopShapeOf, trainingFlopsPerToken } from './model-flops.js';
import type { GpuThroughputResult } from './gpu-throughput.js';

const dir = mkdtempSync(join(tmpdir(), 'tsd-gpu-bench-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await setupBackend('wasm');
});

describe('the gpu preset', () => {
  it('is a 15–135M Llama at batch ≥ 8 × 512, and its parameter count is the real one', async () => {
    await setupBackend('wasm');
    const count = llamaParameters(GPU_PRESET.llama);
    expect(count).toBeGreaterThan(15e6);
    expect(count).toBeLessThan(135e6);
    expect(count).toBe(109_529_856);
    expect(GPU_PRESET.batch).toBeGreaterThanOrEqual(8);
    expect(GPU_PRESET.seq).toBeGreaterThanOrEqual(512);
    // The formula against the weights randomCausalLM actually builds (smoke size; tied head once).
    for (const llama of [GPU_SMOKE_PRESET.llama, { ...GPU_SMOKE_PRESET.llama, tie_word_embeddings: false }]) {
      const { replica, weights } = randomCausalLM({ ...llama });
      const unique = new Set(weights.values()) as Set<tf.Tensor>;
      expect(llamaParameters(llama)).toBe([...unique].reduce((a, t) => a + t.size, 0));
      tf.dispose([...unique]);
      replica.dispose();
    }
  });

  it('counts training FLOPs per token: 2× the forward matmuls (LoRA) or + the block weight gradients (full), plus 3× attention', () => {
    const c = GPU_PRESET.llama;
    const d = 768;
    const blocks = 2 * 12 * (2 * d * d + 2 * d * d + 3 * d * 2048);
    const head = 2 * d * 32000;
    const attentionForward = 12 * 4 * 512 * d;
    const shape = llamaFlopShape(c);
    expect(trainingFlopsPerToken(shape, 512, 'lora-dash')).toBe(2 * (blocks + head) + 3 * attentionForward);
    // The head is the tied embedding, frozen under `full` too (all-linear excludes it): no weight gradient.
    expect(trainingFlopsPerToken(shape, 512, 'full')).toBe(3 * blocks + 2 * head + 3 * attentionForward);
    // ~6N per token for full training over the trained weights (N = 84.9M in the blocks), plus the frozen head and attention.
    expect(trainingFlopsPerToken(shape, 512, 'full') / (6 * 84.9e6)).toBeGreaterThan(1);
    expect(trainingFlopsPerToken(shape, 512, 'full') / (6 * 84.9e6)).toBeLessThan(1.5);
    // The preset's closed form equals what flopShapeOf reads off the weights randomCausalLM builds.
    for (const llama of [GPU_SMOKE_PRESET.llama, { ...GPU_SMOKE_PRESET.llama, tie_word_embeddings: false }]) {
      const { replica, weights } = randomCausalLM({ ...llama });
      expect(flopShapeOf(weights, { vocabSize: llama.vocab_size, hiddenSize: llama.hidden_size, numLayers: llama.num_hidden_layers })).toEqual(llamaFlopShape(llama));
      tf.dispose([...new Set(weights.values())] as tf.Tensor[]);
      replica.dispose();
    }
  });
});

describe('tsd-bench gpu --smoke on webgpu (a software adapter here; a GPU elsewhere)', () => {
  it('trains the random Llama with LoRA-Dash and reports tokens/s, MFU and peak GPU memory', async () => {
    const out = join(dir, 'gpu.json');
    const lines: string[] = [];
    const result = await runGpuCommand(['--smoke', '--out', out], { stdout: { write: (t: string) => lines.push(t) } });
    expect(result).not.toBeNull();
    const saved = JSON.parse(readFileSync(out, 'utf8')) as GpuThroughputResult;
    expect(saved.backend).toBe('webgpu');
    expect(saved.losses).toHaveLength(GPU_SMOKE_PRESET.warmupSteps + GPU_SMOKE_PRESET.steps);
    expect(saved.losses.every(Number.isFinite)).toBe(true);
    // Random weights (std 0.02) start near uniform: loss ≈ ln(vocab).
    expect(Math.abs((saved.losses[0] as number) - Math.log(GPU_SMOKE_PRESET.llama.vocab_size))).toBeLessThan(0.1);
    expect(saved.tokensPerSecond).toBeGreaterThan(0);
    expect(saved.mfu).toBeGreaterThan(0);
    expect(saved.modelGflops).toBeCloseTo((saved.flopsPerToken * saved.tokensPerSecond) / 1e9, 6);
    expect(saved.matmulPeak.timings.map((t) => t.n)).toEqual(GPU_SMOKE_PRESET.matmulSizes);
    expect(saved.peakGpuBytes).toBeGreaterThan(0);
    expect(saved.releasedGpuBytes).toBeGreaterThan(0);
    // The exact setup a GPU number is quoted with.
    expect(saved.setup.packages.webgpu).toMatch(/^\d+\.\d+/);
    expect(saved.setup.packages['@tensorflow/tfjs-backend-webgpu']).toMatch(/^4\./);
    expect(saved.setup.dawnFlags).toEqual([]);
    expect(lines.join('')).toMatch(/setup: Node \d+.*webgpu \d.*Dawn flags none/);
    // A 2-layer LoRA-Dash step: hundreds of programs, counted over the timed steps only.
    expect(saved.dispatchesPerStep).toBeGreaterThan(100);
    expect(saved.dispatchesPerStep).toBeLessThan(2000);
    // LoRA-Dash launched during the warm-up: d joined the trainable set.
    expect(saved.trainableParameters).toBeGreaterThan(0);
    const summary = lines[lines.length - 1] ?? '';
    console.log(summary.trim());
    expect(summary).toMatch(/tokens\/s/);
    expect(summary).toMatch(/% MFU/);
    expect(summary).toMatch(/peak GPU memory \d/);
    expect(summary).toMatch(/\d+ dispatches\/step/);
    if (saved.softwareAdapter) expect(summary).toMatch(/not a GPU number/);
    expect(webGpuDeviceErrors()).toEqual([]);
  });

  it('is reachable as `tsd-bench gpu` and rejects bad flags with exit status 2', async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const io = {
      stdout: { write: (t: string) => stdout.push(t) },
      stderr: { write: (t: string) => stderr.push(t) },
      openBackend: () => Promise.reject(new Error('not used')),
    };
    expect(await main(['gpu', '--help'], io)).toBe(0);
    expect(stdout.join('')).toMatch(/tsd-bench gpu/);
    expect(await main(['gpu', '--steps', '0'], io)).toBe(2);
    expect(stderr.join('')).toMatch(/--steps must be a positive integer/);
  });
});
