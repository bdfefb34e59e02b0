import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { setupBackend, webGpuDeviceErrors } from '@tsd-peft/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { validateResults } from '../report/validate.js';
import { openTfjsBackend } from '../training/tfjs-bench-backend.js';
import { TextSink } from '../testing/text-sink.js';

fixturePath('reference', 'hf', 'stories260K', 'config.json');

const out = mkdtempSync(join(tmpdir(), 'tsd-bench-webgpu-'));
afterAll(async () => {
  rmSync(out, { recursive: true, force: true });
  await setupBackend('wasm');
});

describe('tsd-bench --backend webgpu (Dawn on llvmpipe here)', () => {
  it('reports MFU against the measured matmul peak and peak GPU memory per run', async () => {
    const stdout = new TextSink();
    const stderr = new TextSink();
    const args = ['--backend', 'webgpu', '--methods', 'lora,full', '--tasks', 'shakespeare', '--seeds', '0', '--steps', '2', '--eval-every', '2'];
    const tiny = ['--batch-size', '2', '--seq-len', '16', '--eval-tokens', '64', '--out', out];
    const status = await main([...args, ...tiny], { stdout, stderr, openBackend: openTfjsBackend });
    expect(stderr.text).toBe('');
    expect(status).toBe(0);
    const results = validateResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.environment.backend).toBe('webgpu');
    for (const run of results.runs) {
      const gpu = run.gpu;
      expect(gpu, run.key).toBeDefined();
      expect(gpu?.matmulPeakGflops).toBeGreaterThan(0);
      expect(gpu?.modelGflops).toBeGreaterThan(0);
      expect(gpu?.mfu).toBeCloseTo((gpu?.modelGflops ?? 0) / (gpu?.matmulPeakGflops ?? 1), 9);
      expect(gpu?.peakMemoryMiB).toBeGreaterThan(0);
    }
    const markdown = readFileSync(join(out, 'results.md'), 'utf8');
    expect(markdown).toMatch(/\| tokens\/s \| MFU \| peak GPU MiB \|/);
    expect(markdown).toMatch(/\| lora \| 8 \|.*\| \d+\.\d\d% \| \d/);
    expect(results.runs.every((r) => r.gpu?.softwareAdapter === true)).toBe(true);
    expect(markdown).toMatch(/software WebGPU adapter: they are not GPU numbers/);
    expect(stdout.text + stderr.text).toMatch(/fp32 matmul peak \d/);
    expect(webGpuDeviceErrors()).toEqual([]);
  });
});
