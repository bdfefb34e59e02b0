// Registers tfjs's webgpu backend factory where the browser has navigator.gpu.
import '@tensorflow/tfjs-backend-webgpu';
import { setupBackend, webGpuMemory, type BackendName } from '@tsd-peft/tfjs';
import { fineTuneInBrowser } from './demo-training.js';
import { drawLossChart } from './loss-chart.js';
import { loadBrowserModel, type BrowserModel } from './model-loader.js';

/** What the page exposes for automation (the Playwright test reads it). */
export interface DemoState {
  phase: 'loading' | 'ready' | 'training' | 'done' | 'error';
  backend: string;
  /** Why webgpu was not used, when it was not. */
  fallbackReason: string;
  losses: number[];
  launched: number;
  error: string;
}

const DEFAULT_TEXT =
  'Once upon a time, a small fox lived near a quiet river. Every morning the fox ran to the water and looked at the fish. ' +
  'One day the fox saw a red boat. "Hello," said the boat man. "Do you want to ride with me?" The fox was happy and jumped in. ' +
  'They went down the river together and saw many birds, trees and flowers. When the sun went down, the fox went home and slept.';

const state: DemoState = { phase: 'loading', backend: '', fallbackReason: '', losses: [], launched: 0, error: '' };
(globalThis as { __demo?: DemoState }).__demo = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const status = (text: string) => ($('status').textContent = text);

/** webgpu on a hardware adapter (any adapter with ?backend=webgpu), else wasm (?backend=wasm forces it). */
async function chooseBackend(): Promise<string> {
  const wanted = params.get('backend') as BackendName | null;
  if (wanted !== 'wasm') {
    try {
      return await setupBackend('webgpu', { webgpu: { allowSoftware: wanted === 'webgpu' } });
    } catch (err) {
      state.fallbackReason = err instanceof Error ? err.message : String(err);
    }
  }
  // The .wasm binaries are copied next to the page by the build.
  return setupBackend('wasm', { wasmPaths: new URL('./', location.href).href });
}

function offerDownload(id: string, blob: Blob): void {
  const link = $<HTMLAnchorElement>(id);
  link.href = URL.createObjectURL(blob);
  link.hidden = false;
}

async function run(model: BrowserModel): Promise<void> {
  const steps = Number($<HTMLInputElement>('steps').value);
  const t = Number($<HTMLInputElement>('t').value);
  state.phase = 'training';
  state.losses = [];
  $<HTMLButtonElement>('start').disabled = true;
  const chart = $('chart') as unknown as SVGSVGElement;
  const result = await fineTuneInBrowser(model, {
    text: $<HTMLTextAreaElement>('text').value,
    steps,
    t: Math.min(t, steps - 1),
    r: Number($<HTMLInputElement>('r').value),
    lr: Number($<HTMLInputElement>('lr').value),
    onStep: async (event) => {
      state.losses.push(event.loss);
      drawLossChart(chart, state.losses, steps);
      const mem = webGpuMemory();
      status(
        `step ${event.step}/${event.totalSteps}  loss ${event.loss.toFixed(4)}  ${event.tokensPerSecond?.toFixed(0) ?? '–'} tokens/s` +
          (mem === null ? '' : `  GPU ${(mem.peakAllocatedBytes / 2 ** 20).toFixed(1)} MiB peak`),
      );
      // Let the browser paint between steps.
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  });
  state.launched = result.launched;
  offerDownload('download-weights', result.peft['adapter_model.safetensors']);
  offerDownload('download-config', result.peft['adapter_config.json']);
  status(`done: ${steps} steps, loss ${result.losses[0]?.toFixed(4)} → ${result.losses[result.losses.length - 1]?.toFixed(4)}; LoRA-Dash launched on ${result.launched} modules`);
  state.phase = 'done';
  $<HTMLButtonElement>('start').disabled = false;
}

async function boot(): Promise<void> {
  $<HTMLTextAreaElement>('text').value = DEFAULT_TEXT;
  state.backend = await chooseBackend();
  $('backend').textContent = `backend: ${state.backend}${state.fallbackReason === '' ? '' : ` (webgpu not used: ${state.fallbackReason})`}`;
  status('loading stories260K…');
  const model = await loadBrowserModel(params.get('model') ?? './model/');
  state.phase = 'ready';
  status('ready');
  const start = $<HTMLButtonElement>('start');
  start.textContent = 'Fine-tune with LoRA-Dash';
  start.disabled = false;
  start.addEventListener('click', () => {
    run(model).catch(fail);
  });
}

function fail(err: unknown): void {
  state.phase = 'error';
  state.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  status(`error: ${state.error}`);
}

boot().catch(fail);
