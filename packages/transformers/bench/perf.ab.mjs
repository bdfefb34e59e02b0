// Old code against new on the same machine, alternating: the perf bench's
// single configuration (perf.run) from this checkout and from another one
// (e.g. `git worktree add ../old <rev> && (cd ../old && npm ci && npm run build)`),
// run in turns, order swapped each round, so that a shared or drifting
// machine slows both alike. Absolute tokens/s on a 2-core VM move by a third
// within an hour; a ratio measured this way does not.
//
// Run: node packages/transformers/bench/perf.ab.mjs <other checkout>
//   [--method lora|full|lora-dash] [--workers 2] [--shape smollm2-135m]
//   [--rounds 4] [--steps 8] [--warmup 2]
// (--shape takes a perf.shapes.ts name at batch 4 × 256; without it, the toy model.)
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundlePerfEntries } from './perf.bundle.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    method: { type: 'string', default: 'lora' },
    workers: { type: 'string', default: '2' },
    shape: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
  },
});
const other = positionals[0];
if (other === undefined) {
  console.error('usage: node packages/transformers/bench/perf.ab.mjs <other checkout> [--method lora] [--workers 2] [--shape smollm2-135m] [--rounds 4]');
  process.exit(2);
}
const otherBundle = (await import(resolve(other, 'packages/transformers/bench/perf.bundle.mjs'))).bundlePerfEntries;
const sides = { other: await otherBundle(['perf.run', 'perf.worker']), this: await bundlePerfEntries(['perf.run', 'perf.worker']) };
const warmup = Number(values.warmup);
const args = {
  method: values.method,
  workers: Number(values.workers),
  steps: warmup + Number(values.steps),
  warmup,
  pretransposeFrozen: false,
  ...(values.shape === undefined ? {} : { shape: { name: values.shape, batch: 4, seq: 256 } }),
};
console.log(`A/B: ${resolve(other)} (other) vs this checkout; ${JSON.stringify(args)}`);
const tokens = { other: [], this: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const side of round % 2 === 0 ? ['other', 'this'] : ['this', 'other']) {
    const entries = sides[side];
    const out = execFileSync(process.execPath, [entries['perf.run'], JSON.stringify({ ...args, workerScript: entries['perf.worker'] })], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const r = JSON.parse(out.trim().split('\n').pop());
    if (r.error !== undefined) throw new Error(`${side}: ${r.error}`);
    tokens[side].push(r.tokensPerSecond);
    const exchange = (r.exchangeSeconds ?? []).map((s) => s.toFixed(2)).join(' / ');
    console.log(`round ${round + 1} ${side.padEnd(5)} ${Math.round(r.tokensPerSecond).toLocaleString('en-US').padStart(7)} tok/s${exchange === '' ? '' : `, exchange ${exchange} s per rank`}`);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
console.log(`median tok/s: other ${Math.round(median(tokens.other))}, this ${Math.round(median(tokens.this))} (this ÷ other ${(median(tokens.this) / median(tokens.other)).toFixed(2)}×)`);
