import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePeftAdapter } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build/serve scripts without declarations
import { buildDemo } from '../build.mjs';
// @ts-expect-error plain ESM build/serve scripts without declarations
import { serveDemo } from '../serve.mjs';
import { CHROMIUM_PATH as CHROMIUM } from '../../../tooling/scripts/system-deps.mjs';
import type { DemoState } from './main.js';

/**
 * The demo page in Debian's headless Chromium: built with esbuild, served
 * with stories260K from the fixtures, trained for a few steps (LoRA-Dash
 * launches at step 2), adapter downloaded and parsed as a PEFT adapter.
 * Headless Chromium offers no hardware WebGPU adapter, so the default load
 * shows the fallback to wasm; a second page forces WebGPU on Chromium's
 * SwiftShader adapter and must reproduce the wasm losses.
 */
const STEPS = 4;
const T = 2;
const out = mkdtempSync(join(tmpdir(), 'tsd-demo-'));
let browser: Browser;
let server: { url: string; close(): Promise<void> };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the demo test needs Debian's chromium (npm test installs it as root; else apt-get install -y chromium)`);
  const dist = await buildDemo(join(out, 'dist'));
  server = await serveDemo({ dist, model: fixturePath('reference', 'hf', 'stories260K') });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // SwiftShader's WebGPU for the forced-webgpu page; the default page still finds no hardware adapter.
    args: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(out, { recursive: true, force: true });
});

async function trainOnPage(query: string): Promise<{ page: Page; state: DemoState }> {
  const page = await browser.newPage({ acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}${query}`);
  await page.waitForFunction(() => ['ready', 'error'].includes((globalThis as { __demo?: DemoState }).__demo?.phase ?? ''), null, { timeout: 60_000 });
  await page.fill('#steps', String(STEPS));
  await page.fill('#t', String(T));
  await page.click('#start');
  await page.waitForFunction(() => ['done', 'error'].includes((globalThis as { __demo?: DemoState }).__demo?.phase ?? ''), null, { timeout: 120_000 });
  const state = (await page.evaluate(() => (globalThis as { __demo?: DemoState }).__demo)) as DemoState;
  expect(errors).toEqual([]);
  expect(state.error).toBe('');
  return { page, state };
}

let wasmLosses: number[] = [];

describe('browser demo (headless Chromium)', () => {
  it('falls back to wasm, trains with a finite decreasing loss and downloads a PEFT adapter', async () => {
    const { page, state } = await trainOnPage('');
    expect(state.backend).toBe('wasm');
    expect(state.fallbackReason).toMatch(/webgpu/);
    expect(state.losses).toHaveLength(STEPS);
    expect(state.losses.every(Number.isFinite)).toBe(true);
    // Adam on a short repeated text: each step lowers the loss.
    for (let i = 1; i < STEPS; i++) expect(state.losses[i] as number, `step ${i}`).toBeLessThan(state.losses[i - 1] as number);
    expect(state.launched).toBe(10); // q_proj and v_proj of 5 layers
    expect(await page.locator('#chart polyline').count()).toBe(1);
    wasmLosses = state.losses;

    const files: Record<string, Buffer> = {};
    for (const id of ['download-weights', 'download-config']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${id}`)]);
      const path = join(out, download.suggestedFilename());
      await download.saveAs(path);
      files[download.suggestedFilename()] = readFileSync(path);
    }
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const adapter = parsePeftAdapter((files['adapter_config.json'] as Buffer).toString('utf8'), new Uint8Array(files['adapter_model.safetensors'] as Buffer), 'adapter_model.safetensors');
    expect(adapter.modules.size).toBe(10);
    for (const [module, f] of adapter.modules) {
      // LoRA-Dash exported as one plain LoRA: rank r + s (8 + 4), finite factors.
      expect(f.A.rows, module).toBe(12);
      expect(f.A.data.every(Number.isFinite) && f.B.data.every(Number.isFinite), module).toBe(true);
    }
    expect(adapter.config.base_model_name_or_path).toBe('./model/');
    await page.close();
  });

  it('trains on webgpu when forced (SwiftShader here) with the losses of wasm', async () => {
    const { page, state } = await trainOnPage('?backend=webgpu');
    expect(state.backend).toBe('webgpu');
    expect(state.losses).toHaveLength(STEPS);
    // fp32 on both backends, different summation orders: 1e-4 as in the Node replay test.
    state.losses.forEach((l, i) => expect(Math.abs(l - (wasmLosses[i] as number)), `step ${i}`).toBeLessThan(1e-4));
    expect(state.launched).toBe(10);
    await page.close();
  });
});
