// Training-throughput bench (`npm run bench:perf`), issue 7.
//
// On the synthetic Llama of perf.model.ts (dim 256, 4 layers, 4 heads,
// SwiGLU 688, vocab 512, batch 8 × 128, Adam) it prints, in one run:
// - the peak wasm matmul GFLOP/s of this machine, measured now, and our
//   matmul kernel against tfjs's stock one, side by side;
// - tokens/s with 1 worker (plain trainer in one thread) and N workers
//   (data-parallel over worker_threads), for full fine-tuning, LoRA r=8 on
//   q/k/v/o and LoRA-Dash, with MFU and peak RSS per run (each run is its
//   own process, so its peak RSS is its own);
// - the step-time split (forward, backward, optimizer) and kernel time per
//   op type, and the LoRA-Dash / LoRA step-time ratio;
// - memory: peak RSS against the state each method must hold;
// - the same model in PyTorch (2 threads, OMP_WAIT_POLICY=PASSIVE) when a
//   python3 with torch is importable, else "PyTorch: unavailable".
//
// On a shared machine other processes take CPU at random moments, so every
// configuration is measured PERF_REPEATS times, interleaved (1 worker,
// N workers, 1, N, …), and the best run counts (the least disturbed one);
// all values are printed.
//
// Environment: PERF_WORKERS (default: cores), PERF_STEPS (timed steps,
// default 6), PERF_REPEATS (default 2), PERF_METHODS (default full,lora,lora-dash),
// PERF_PYTHON (an interpreter with torch, tried before python3).
//
// With `--shapes smollm2-135m,qwen2.5-0.5b,llama-3.2-1b` it measures real
// model shapes instead (perf.scale.mjs; its flags are listed there).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { cpus, availableParallelism, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { bundlePerfEntries } from './perf.bundle.mjs';
import { findTorchPython } from './perf.scale.mjs';

if (process.argv.includes('--shapes')) {
  const { runScaleBench } = await import('./perf.scale.mjs');
  await runScaleBench(process.argv.slice(2));
  process.exit(0);
}

const WORKERS = Number(process.env.PERF_WORKERS ?? availableParallelism());
const TIMED = Number(process.env.PERF_STEPS ?? 6);
const REPEATS = Number(process.env.PERF_REPEATS ?? 2);
const WARMUP = 2;
const METHODS = (process.env.PERF_METHODS ?? 'full,lora,lora-dash').split(',');

// Model FLOPs per trained token (T = 128, d = 256, L = 4, ff = 688, V = 512).
const [T, D, L, FF, V, R, S] = [128, 256, 4, 688, 512, 8, 8];
const N_LINEAR = L * (4 * D * D + 3 * D * FF) + V * D; // every projection, lm_head included
const ATTENTION = 4 * L * T * D; // q·kᵀ and P·v, forward, full T×T as both frameworks compute it
const ADAPTED = L * 4 * (D + D); // Σ (in + out) over the q/k/v/o modules
const FLOPS_PER_TOKEN = {
  // forward 2N, backward 2N (inputs) + 2N (weights), attention backward 2×
  full: 6 * N_LINEAR + 3 * ATTENTION,
  // frozen weights: no weight gradient; the adapters' products forward and backward
  lora: 4 * N_LINEAR + 3 * ATTENTION + 6 * R * ADAPTED,
  'lora-dash': 4 * N_LINEAR + 3 * ATTENTION + 6 * (R + S) * ADAPTED,
};

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const fmt = (x, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function runNode(script, args) {
  const out = execFileSync(process.execPath, [script, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1));
}

const started = performance.now();
console.log('tsd-peft training-throughput bench (issue 7)');
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores; load average ${load()} at start`);
console.log(`model: Llama dim ${D}, ${L} layers, 4 heads, SwiGLU ${FF}, vocab ${V}; batch 8 × ${T}; Adam; ${WARMUP} warm-up + ${TIMED} timed steps per run`);
const entries = await bundlePerfEntries(['perf.run', 'perf.worker', 'perf.profile']);

// 1. Single-thread measurements: matmul peak, step split, op types, cross-entropy.
const profile = runNode(entries['perf.profile'], { methods: METHODS, repeats: 3 });
const peak = Math.max(...profile.matmul.map((m) => m.gflops));
console.log(`\npeak wasm matmul (1 thread): ${fmt(peak, 1)} GFLOP/s  [${profile.matmul.map((m) => `${m.shape} ${fmt(m.gflops, 1)}`).join(', ')}]`);
console.log(
  `matmul kernel, ours (wasm-gemm) vs tfjs stock wasm, GFLOP/s: ${profile.kernelComparison.map((c) => `${c.kind} ${fmt(c.ours, 1)} vs ${fmt(c.stock, 1)} (${fmt(c.ours / c.stock, 2)}×)`).join('; ')}`,
);
const rs = profile.realShape;
console.log(`training step on real-model shapes (${rs.label}): ${fmt(rs.oursMs)} ms with our kernel vs ${fmt(rs.stockMs)} ms with tfjs's stock kernel (${fmt(rs.stockMs / rs.oursMs, 2)}×)`);

// 2. Training runs, and PyTorch right after TF.js for the same method (the
// machine may be shared: measuring close in time keeps the ratio fair).
const torchPy = findTorchPython();
const torchScript = fileURLToPath(new URL('./perf.torch.py', import.meta.url));
const runs = {};
const torch = {};
const torchOneThread = {};
const all = {};
const loads = [];
const best = (list) => list.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
for (const method of METHODS) {
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const workers of [...new Set([1, WORKERS])]) {
      const r = runNode(entries['perf.run'], { method, workers, steps: WARMUP + TIMED, warmup: WARMUP, workerScript: entries['perf.worker'] });
      all[`${method}/${workers}`] ??= [];
      all[`${method}/${workers}`].push(r);
      loads.push(loadavg()[0]);
    }
    if (torchPy.python !== null && method !== 'lora-dash') {
      for (const threads of [2, 1]) {
        const env = { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' };
        const args = JSON.stringify({ method, steps: WARMUP + 2 * TIMED, warmup: WARMUP, threads });
        const key = threads === 2 ? `torch/${method}` : `torch1/${method}`;
        all[key] ??= [];
        all[key].push(JSON.parse(execFileSync(torchPy.python, [torchScript, args], { env, encoding: 'utf8' }).trim().split('\n').at(-1)));
      }
    }
  }
}
for (const [key, list] of Object.entries(all)) {
  const chosen = { ...best(list), peakRssBytes: Math.max(...list.map((r) => r.peakRssBytes)) };
  if (key.startsWith('torch/')) torch[key.slice(6)] = chosen;
  else if (key.startsWith('torch1/')) torchOneThread[key.slice(7)] = chosen;
  else runs[key] = chosen;
}

// 2b. What the machine allows N replicas at best: N independent 1-thread
// processes, each training 1/N of the batch, started together. They share
// nothing but the hardware (caches, memory bandwidth), so their summed
// tokens/s bounds what data-parallel workers can reach here.
const execFileAsync = promisify(execFile);
// Measured for full fine-tuning and LoRA (issue 19's goal: ≥ 85% of it for both).
const ceilingMethods = METHODS.filter((m) => m === 'full' || m === 'lora');
const ceilings = [];
if (WORKERS > 1 && 8 % WORKERS === 0) {
  for (const method of ceilingMethods.length > 0 ? ceilingMethods : METHODS.slice(0, 1)) {
    const startAt = Date.now() + 5000;
    const side = await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        const args = { method, workers: 1, rows: 8 / WORKERS, steps: WARMUP + TIMED, warmup: WARMUP, startAt, workerScript: entries['perf.worker'] };
        const { stdout } = await execFileAsync(process.execPath, [entries['perf.run'], JSON.stringify(args)], { maxBuffer: 1 << 26 });
        return JSON.parse(stdout.trim().split('\n').at(-1));
      }),
    );
    ceilings.push({ method, tokensPerSecond: side.reduce((sum, r) => sum + r.tokensPerSecond, 0), each: side.map((r) => r.stepSeconds) });
  }
}

console.log(`\ntokens/s, best of ${REPEATS} interleaved runs (MFU = model FLOP/s ÷ (workers × ${fmt(peak, 1)} GFLOP/s); peak RSS of the whole process)`);
console.log(
  `${pad('method', 10)}${lpad('GFLOP/tok', 10)}${lpad('1 worker', 11)}${lpad('MFU', 7)}${lpad('RSS', 10)}${lpad(`${WORKERS} workers`, 12)}${lpad('MFU', 7)}${lpad('RSS', 10)}${lpad('speed-up', 10)}`,
);
for (const method of METHODS) {
  const one = runs[`${method}/1`];
  const many = runs[`${method}/${WORKERS}`];
  const flops = FLOPS_PER_TOKEN[method];
  const mfu = (r, w) => `${fmt((100 * r.tokensPerSecond * flops) / (w * peak * 1e9), 1)}%`;
  console.log(
    `${pad(method, 10)}${lpad(fmt(flops / 1e9, 4), 10)}${lpad(fmt(one.tokensPerSecond), 11)}${lpad(mfu(one, 1), 7)}${lpad(mb(one.peakRssBytes), 10)}` +
      `${lpad(fmt(many.tokensPerSecond), 12)}${lpad(mfu(many, WORKERS), 7)}${lpad(mb(many.peakRssBytes), 10)}${lpad(`${fmt(many.tokensPerSecond / one.tokensPerSecond, 2)}×`, 10)}`,
  );
}
console.log(
  `all runs, tokens/s: ${Object.entries(all)
    .map(([k, list]) => `${k} ${list.map((r) => fmt(r.tokensPerSecond)).join('/')}`)
    .join('; ')}`,
);
console.log(
  `CPU actually obtained in the best runs (CPU-seconds ÷ wall-seconds over the timed steps; ${availableParallelism()} cores, shared): ` +
    METHODS.map((m) => `${m} ${fmt(runs[`${m}/1`].parallelism, 2)} / ${fmt(runs[`${m}/${WORKERS}`].parallelism, 2)}`).join(', ') +
    `; tokens per CPU-second, ${WORKERS} workers ÷ 1: ` +
    METHODS.map((m) => `${m} ${fmt(runs[`${m}/${WORKERS}`].tokensPerCpuSecond / runs[`${m}/1`].tokensPerCpuSecond, 2)}`).join(', '),
);
for (const ceiling of ceilings) {
  const one = runs[`${ceiling.method}/1`];
  const dp = runs[`${ceiling.method}/${WORKERS}`];
  console.log(
    `machine ceiling for ${WORKERS} replicas (${ceiling.method}): ${WORKERS} independent 1-thread processes, each training 1/${WORKERS} of the batch, side by side: ` +
      `${fmt(ceiling.tokensPerSecond)} tok/s together = ${fmt(ceiling.tokensPerSecond / one.tokensPerSecond, 2)}× the 1-worker run ` +
      `(steps ${ceiling.each.map((x) => `${fmt(x * 1000)} ms`).join(', ')}); data-parallel reaches ${fmt((100 * dp.tokensPerSecond) / ceiling.tokensPerSecond)}% of it (goal ≥ 85%, issue 19)`,
  );
}

// 2c. Where data parallelism's time goes: each rank's seconds in the gradient
// exchange (read-back, all-reduce with the wait for the slower rank, upload),
// per step, against the step time and the 1-worker step on half the work.
console.log(
  `gradient exchange per step, ${WORKERS} workers (read-back + all-reduce + upload, and in brackets the time waiting at barriers for the slower rank; ms per rank): ` +
    METHODS.map((m) => {
      const r = runs[`${m}/${WORKERS}`];
      const perStep = (r.exchangeSeconds ?? []).map((x, rank) => `${fmt((1000 * x) / (WARMUP + TIMED))} (waiting ${fmt((1000 * (r.exchangeWaitSeconds?.[rank] ?? 0)) / (WARMUP + TIMED))})`);
      const cpu = (r.threadCpuSeconds ?? []).map((x) => (x === null ? '—' : fmt((1000 * x) / (WARMUP + TIMED)))).join(' / ');
      return `${m} ${perStep.join(' / ')} of a ${fmt(1000 * r.stepSeconds)} ms step (1 worker: ${fmt(1000 * runs[`${m}/1`].stepSeconds)} ms; CPU ms per step of each worker thread, warm-up steps included: ${cpu})`;
    }).join('; '),
);

// 3. Where the time goes.
console.log('\nstep-time split, 1 thread (median of 3; backward = gradient pass − its forward)');
for (const s of profile.splits) {
  const pct = (x) => `${fmt((100 * x) / s.stepMs)}%`;
  console.log(
    `${pad(s.method, 10)} step ${lpad(fmt(s.stepMs), 5)} ms = forward ${fmt(s.forwardMs)} (${pct(s.forwardMs)}) + backward ${fmt(s.backwardMs)} (${pct(s.backwardMs)}) + optimizer ${fmt(s.optimizerMs, 1)} (${pct(s.optimizerMs)})`,
  );
  // customGrad ops appear as 'unnamed scope' around kernels that are also listed: not counted twice
  const kernels = s.kernels.filter((k) => k.name !== 'unnamed scope');
  const total = kernels.reduce((a, k) => a + k.ms, 0);
  const top = kernels.slice(0, 7).map((k) => `${k.name} ${fmt((100 * k.ms) / total)}%`);
  console.log(`${pad('', 10)} kernel time by op (tf.profile): ${top.join(', ')}, other ${fmt((100 * kernels.slice(7).reduce((a, k) => a + k.ms, 0)) / total)}%`);
}
const dash = runs[`lora-dash/1`];
const lora = runs[`lora/1`];
if (dash !== undefined && lora !== undefined) {
  const splitRatio = profile.splits.find((s) => s.method === 'lora-dash')?.stepMs / profile.splits.find((s) => s.method === 'lora')?.stepMs;
  console.log(`LoRA-Dash / LoRA step time: ${fmt(lora.tokensPerSecond / dash.tokensPerSecond, 3)} (training runs, 1 worker), ${fmt(splitRatio, 3)} (split above); launched modules: ${dash.launched}`);
}
const crossEntropyTimes = profile.crossEntropy.map((c) => `V=${c.vocab}: ${fmt(c.shippedMs, 1)} ms (one-hot formulation ${fmt(c.oneHotMs, 1)} ms, ${fmt(c.oneHotMs / c.shippedMs, 1)}×)`);
console.log(`cross-entropy forward+backward, [1024, V] logits: ${crossEntropyTimes.join('; ')}`);

// 4. Memory.
const state = (method) => {
  const frozen = (N_LINEAR + V * D + (2 * L + 1) * D) * 4;
  if (method === 'full') return { frozen, train: N_LINEAR * 4 * 4, what: 'frozen originals + weights, grads, Adam m, v of every linear' };
  const k = method === 'lora' ? R : R + S;
  return { frozen, train: k * ADAPTED * 4 * 4, what: 'frozen weights + adapter params, grads, Adam m, v' };
};
console.log('\nmemory, 1 worker: peak RSS vs the state each method must hold (fp32)');
for (const method of METHODS) {
  const r = runs[`${method}/1`];
  const s = state(method);
  const split = profile.splits.find((x) => x.method === method);
  console.log(
    `${pad(method, 10)} peak RSS ${lpad(mb(r.peakRssBytes), 8)} (process before the model ${mb(r.baselineRssBytes)}); expected state ${mb(s.frozen + s.train)} = ${s.what}; ` +
      `measured live tensors between steps ${mb(r.stateBytes)}; peak tensor bytes in a step ${mb(split?.peakTensorBytes ?? 0)}`,
  );
}

// 5. PyTorch on the same model.
console.log('');
if (torchPy.python === null) {
  console.log(`PyTorch: unavailable (${torchPy.reason})`);
} else {
  console.log(`PyTorch ${torchPy.version} (${torchPy.python}, 2 threads, OMP_WAIT_POLICY=PASSIVE), same model, batch and method, run right after the TF.js runs of the method:`);
  for (const [method, t] of Object.entries(torch)) {
    const ours = runs[`${method}/${WORKERS}`];
    const one = torchOneThread[method];
    console.log(
      `${pad(method, 10)} PyTorch ${lpad(fmt(t.tokensPerSecond), 6)} tok/s (1 thread: ${one === undefined ? '—' : fmt(one.tokensPerSecond)}), peak RSS ${mb(t.peakRssBytes)}; ` +
        `tsd-peft ${WORKERS} workers ${fmt(ours.tokensPerSecond)} tok/s = ${fmt(ours.tokensPerSecond / t.tokensPerSecond, 2)}× PyTorch (goal ≥ 0.6×, issue 19)`,
    );
  }
}

// 6. Native backend.
const require = createRequire(import.meta.url);
let tfjsNode = 'not installed';
try {
  tfjsNode = `installed (${JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-node/package.json'), 'utf8')).version}); setupBackend() picks it first`;
} catch {
  // optional package
}
console.log(`@tensorflow/tfjs-node: ${tfjsNode}`);
console.log(`1-minute load average after each TF.js run: ${loads.map((x) => x.toFixed(2)).join(', ')}; ${load()} at the end; bench wall time ${fmt((performance.now() - started) / 1000)} s`);
