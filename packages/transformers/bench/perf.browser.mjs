// Real-shape training in headless Chromium (issue 19): `node bench/perf.browser.mjs --shape qwen2.5-0.5b --frozen-dtype bfloat16`.
//
// Bundles perf.browser.page.ts from the package sources (esbuild, for the
// browser), serves it with tfjs-backend-wasm's binaries, opens it in Debian's
// /usr/bin/chromium through playwright-core, and prints the page's step
// times and wasm heap, and the peak RSS of the Chromium process tree
// (sampled from /proc every 250 ms; the renderer holds the wasm heap).
// Flags: --shape (default qwen2.5-0.5b) --frozen-dtype float32|bfloat16|int8
// (default bfloat16) --method lora|lora-all|lora-dash (default lora) --steps 2
// (warm-up included) --batch 4 --seq 256 (--shape toy: the toy model of perf.model.ts) --gradient-checkpointing / --no-gradient-checkpointing (default on).
import { readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { tsdPeftSources } from '../../../tooling/scripts/bundle-sources.mjs';
import { serveFolders } from '../../../tooling/scripts/static-server.mjs';
import { CHROMIUM_PATH } from '../../../tooling/scripts/system-deps.mjs';

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const flags = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].slice(2);
  if (key.startsWith('no-')) flags[key.slice(3)] = false;
  else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[key] = argv[++i];
  else flags[key] = true;
}
const shape = { name: flags.shape ?? 'qwen2.5-0.5b', batch: Number(flags.batch ?? 4), seq: Number(flags.seq ?? 256) };
// --shape toy: perf.model.ts's small Llama (8 × 128), to check the page quickly
const options = {
  method: flags.method ?? 'lora',
  steps: Number(flags.steps ?? 2),
  ...(shape.name === 'toy' ? {} : { rows: shape.batch, shape }),
  gradientCheckpointing: flags['gradient-checkpointing'] !== false,
  frozenDtype: flags['frozen-dtype'] ?? 'bfloat16',
};
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

const dist = join(repoRoot, '.tmp', 'perf-browser');
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [fileURLToPath(new URL('./perf.browser.page.ts', import.meta.url))],
  outfile: join(dist, 'page.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'error',
  plugins: [
    tsdPeftSources,
    // tfjs's tsconfig maps `#platform` to its Node branch for type checks; a browser bundle takes the browser branch
    { name: 'browser-platform', setup: (b) => b.onResolve({ filter: /^#platform$/ }, () => ({ path: join(repoRoot, 'packages/tfjs/src/platform/browser.ts') })) },
  ],
});
writeFileSync(join(dist, 'index.html'), '<!doctype html><meta charset="utf-8"><title>tsd-peft perf</title><script type="module" src="./page.js"></script>\n');
const server = await serveFolders([
  ['/tfjs-wasm/', dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))],
  ['/', dist],
]);

/** RSS of all descendants of a process (not itself), from /proc: here, Chromium's processes under this Node process. */
function descendantsRss(root) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {}
  }
  let total = 0;
  let largest = 0;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop();
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      total += kb * 1024;
      largest = Math.max(largest, kb * 1024);
    } catch {}
    stack.push(...(children.get(pid) ?? []));
  }
  return { total, largest };
}

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH });
let peak = { total: 0, largest: 0 };
const sampler = setInterval(() => {
  const r = descendantsRss(process.pid);
  peak = { total: Math.max(peak.total, r.total), largest: Math.max(peak.largest, r.largest) };
}, 250);
const started = performance.now();
const page = await browser.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('crash', () => errors.push('renderer crashed'));
await page.goto(`${server.url}#${encodeURIComponent(JSON.stringify(options))}`);
let state;
try {
  await page.waitForFunction(() => globalThis.__perf?.phase !== 'running', null, { timeout: 0, polling: 2000 });
  state = await page.evaluate(() => globalThis.__perf);
} catch (error) {
  state = { phase: 'failed', error: `${error.message.split('\n')[0]}${errors.length > 0 ? `; ${errors.join('; ')}` : ''}`, stepTimes: [], wasmHeapBytes: [] };
}
clearInterval(sampler);
await browser.close();
await server.close();
const chromiumVersion = browser.version();
const tokens = shape.name === 'toy' ? 8 * 127 : shape.batch * (shape.seq - 1);
const timed = state.stepTimes.slice(1);
console.log(
  `headless Chromium ${chromiumVersion}, wasm backend; ${shape.name} ${options.method}, frozen ${options.frozenDtype}, batch ${shape.name === 'toy' ? '8 × 128' : `${shape.batch} × ${shape.seq}`}, gradient checkpointing ${options.gradientCheckpointing ? 'on' : 'off'}`,
);
if (state.phase !== 'done') console.log(`FAILED after ${state.stepTimes.length} steps: ${state.error}`);
console.log(
  `build ${(state.buildSeconds ?? 0).toFixed(1)} s; steps ${state.stepTimes.map((t) => `${t.toFixed(1)} s`).join(', ')}` +
    (timed.length > 0 ? `; ${(tokens / (timed.reduce((a, b) => a + b, 0) / timed.length)).toFixed(0)} tok/s after the first step` : '') +
    `; peak wasm heap ${mib(Math.max(0, ...state.wasmHeapBytes))}; peak RSS of Chromium's processes ${mib(peak.total)} together, ${mib(peak.largest)} the largest; wall ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
console.log(JSON.stringify({ options, chromiumVersion, ...state, peakRssBytes: peak.total, peakRendererRssBytes: peak.largest }));
