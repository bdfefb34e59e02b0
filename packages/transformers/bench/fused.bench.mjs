// Before/after of the eager backward-pass release and the fused wasm ops (issue 19, item 2), side by side in one
// run: `node packages/transformers/bench/fused.bench.mjs [rounds] [smollm2 layers]`. See fused.run.ts.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { bundlePerfEntries } from './perf.bundle.mjs';

const [rounds = '5', layers = '4'] = process.argv.slice(2);
const entries = await bundlePerfEntries(['fused.run']);
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} at start; ${rounds} alternating rounds per mode, medians of CPU time per step`,
);
const out = JSON.parse(
  execFileSync(process.execPath, [entries['fused.run'], JSON.stringify({ rounds: Number(rounds), layers: Number(layers) })], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .at(-1),
);
const f = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
for (const { label, summary } of out) {
  console.log(`\n${label}`);
  for (const s of summary) {
    console.log(
      `  ${s.mode.padEnd(32)} step ${f(s.cpuMs).padStart(7)} ms CPU (${f(s.wallMs)} ms wall)  ${f(s.speedup, 2)}× before  peak live wasm bytes above the model ${f(s.peakMiB)} MiB  loss ${f(s.loss, 5)}`,
    );
  }
}
console.log(
  `\nload average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} at the end`,
);
