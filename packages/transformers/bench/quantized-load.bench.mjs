// Loading a q4/q8 transformers.js variant as a frozen base: its codes kept (the default) against the weights expanded
// to fp32 (frozenDtype: 'float32'), side by side in one run, each load in a fresh process (peak RSS is per process):
// `node packages/transformers/bench/quantized-load.bench.mjs [rounds] [smollm2 layers]`. See quantized-load.run.ts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePerfEntries } from './perf.bundle.mjs';

const [rounds = '3', layers = '30'] = process.argv.slice(2);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = process.env.TSD_FIXTURES ?? join(repoRoot, '..', 'shared');
const stories = join(fixtures, 'reference', 'onnx', 'stories260K');
if (!existsSync(stories)) throw new Error(`fixture missing: ${stories} (set TSD_FIXTURES)`);
const entry = (await bundlePerfEntries(['quantized-load.run']))['quantized-load.run'];
const run = (args) =>
  JSON.parse(
    execFileSync(process.execPath, [entry, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .at(-1),
  );

const smol = join(repoRoot, '.tmp', 'quantized-load', `smollm2-135m-${layers}l`);
if (!existsSync(join(smol, 'onnx', 'model_q4.onnx'))) {
  const t = performance.now();
  const { bytes } = run({ mode: 'write', dir: smol, shape: 'smollm2-135m', layers: Number(layers) });
  console.log(`wrote ${smol} (random SmolLM2-135M shapes, ${layers} layers, q4 block 32): ${(bytes / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const cases = [
  { label: 'stories260K q4', dir: stories, file: 'onnx/model_q4.onnx' },
  { label: 'stories260K q8', dir: stories, file: 'onnx/model_quantized.onnx' },
  { label: `SmolLM2-135M shapes (${layers} layers) q4`, dir: smol, file: 'onnx/model_q4.onnx' },
];
const modes = [
  { mode: 'codes (default)', frozenDtype: undefined },
  { mode: "fp32 ('float32')", frozenDtype: 'float32' },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (x, d = 1) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} at start; ${rounds} alternating rounds, medians`,
);
for (const c of cases) {
  const results = new Map(modes.map((m) => [m.mode, []]));
  for (let r = 0; r < Number(rounds); r++) {
    for (const m of r % 2 === 0 ? modes : [...modes].reverse()) {
      results.get(m.mode).push(run({ mode: 'load', dir: c.dir, file: c.file, ...(m.frozenDtype === undefined ? {} : { frozenDtype: m.frozenDtype }) }));
    }
  }
  console.log(`\n${c.label}`);
  const base = median(results.get(modes[1].mode).map((x) => x.loadMs));
  for (const m of modes) {
    const xs = results.get(m.mode);
    const load = median(xs.map((x) => x.loadMs));
    console.log(
      `  ${m.mode.padEnd(18)} load ${f(load, 0).padStart(6)} ms (${f(base / load, 2)}× fp32's speed)  peak RSS ${f(median(xs.map((x) => x.maxRssMiB))).padStart(7)} MiB  wasm heap ${f(median(xs.map((x) => x.wasmHeapMiB))).padStart(7)} MiB  frozen weights ${f(xs[0].weightMiB).padStart(7)} MiB  kept ${xs[0].kept}  forward checksum ${xs[0].checksum.toExponential(6)}`,
    );
  }
}
console.log(
  `\nload average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} at the end`,
);
