// Real model shapes in the perf bench (issue 19): `npm run bench:perf -- --shapes smollm2-135m,qwen2.5-0.5b`.
//
// Random weights in the exact shapes of SmolLM2-135M, Qwen2.5-0.5B and
// Llama-3.2-1B (perf.shapes.ts), batch 4 × 256, Adam. Per shape and method
// (LoRA r=8 on q/v, LoRA on every decoder projection, LoRA-Dash, full
// fine-tuning): tokens/s with 1 and 2 workers (each run its own process),
// peak RSS, each replica's peak wasm heap, the time for 1,000 examples of
// 256 tokens, and PyTorch on 2 threads with the same shapes, batch and
// method, run right after. A run whose state cannot fit tfjs's 32-bit wasm
// heap (4 GiB − 64 KiB) is reported with the arithmetic, not run; a run that
// runs out of heap anyway is reported with the step it reached.
//
// Also, per shape: LoRA-Dash's launch (one exact SVD per target weight,
// core's svd) timed per weight shape and as a share of 1,000 steps
// (--launch), and peak memory of one LoRA step at sequence 1,024 with and
// without gradient checkpointing (--checkpointing).
//
// Flags: --shapes a,b (required to get here) --methods lora,lora-all,lora-dash,full
// --workers 1,2 --steps 2 (timed) --warmup 1 --batch 4 --seq 256
// --torch / --no-torch --launch / --no-launch --checkpointing / --no-checkpointing
// --checkpointing-seq 1024 --ceiling (two 1-worker processes side by side)
// --gradient-checkpointing (every run with it; by default a run that runs out
// of wasm heap is retried with it) --pretranspose (keep an [in, out] copy
// of every frozen weight; off by default, as in the library with our wasm
// GEMM, which reads Wᵀ directly: the copy doubles the frozen weights' memory)
// --frozen-dtype float32,bfloat16,int8 (default float32): each run once per
// element type of the frozen 2-D weights (bfloat16, or int8 with one fp32
// scale per 32 columns, read by the wasm kernel in place; adapters, gradients
// and Adam stay fp32). Full fine-tuning of a reduced base is refused, so it
// runs in float32 only.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bundlePerfEntries } from './perf.bundle.mjs';

const HEAP_MAX = 4294901760; // tfjs-backend-wasm's getHeapMax(): 65,535 pages of 64 KiB
const GIB = 2 ** 30;
const SHAPES = {
  'smollm2-135m': { label: 'SmolLM2-135M', dim: 576, layers: 30, heads: 9, kv_heads: 3, ff: 1536, vocab: 49152, qkv_bias: false },
  'qwen2.5-0.5b': { label: 'Qwen2.5-0.5B', dim: 896, layers: 24, heads: 14, kv_heads: 2, ff: 4864, vocab: 151936, qkv_bias: true },
  'llama-3.2-1b': { label: 'Llama-3.2-1B', dim: 2048, layers: 16, heads: 32, kv_heads: 8, ff: 8192, vocab: 128256, qkv_bias: false },
};
const METHOD_LABEL = { lora: 'LoRA r=8 q,v', 'lora-all': 'LoRA r=8 all linear', 'lora-dash': 'LoRA-Dash q,v (r=8, s=8)', full: 'full (decoder linears)' };

function parseFlags(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    if (key.startsWith('no-')) flags[key.slice(3)] = false;
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[key] = argv[++i];
    else flags[key] = true;
  }
  return flags;
}

const mib = (b) => `${(b / 2 ** 20).toLocaleString('en-US', { maximumFractionDigits: 0 })} MiB`;
const gib = (b) => `${(b / GIB).toFixed(2)} GiB`;
const fmt = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const duration = (s) => (s >= 5400 ? `${(s / 3600).toFixed(1)} h` : s >= 90 ? `${fmt(s / 60)} min` : `${fmt(s)} s`);

/** Parameter counts of a shape: every tensor, the decoder projections, and the LoRA factors of each method. */
function paramCounts(s) {
  const hd = s.dim / s.heads;
  const kv = s.kv_heads * hd;
  const attn = [s.dim * s.dim, kv * s.dim, kv * s.dim, s.dim * s.dim];
  const mlp = 3 * s.dim * s.ff;
  const decoderLinear = s.layers * (attn.reduce((a, b) => a + b, 0) + mlp);
  const biases = s.qkv_bias ? s.layers * (s.dim + 2 * kv) : 0;
  const total = s.vocab * s.dim + decoderLinear + biases + (2 * s.layers + 1) * s.dim;
  const lora = (pairs) => s.layers * pairs.reduce((sum, [o, i]) => sum + 8 * (o + i), 0);
  const qv = [
    [s.dim, s.dim],
    [kv, s.dim],
  ];
  const all = [...qv, [kv, s.dim], [s.dim, s.dim], [s.ff, s.dim], [s.ff, s.dim], [s.dim, s.ff]];
  return { total, decoderLinear, trainable: { lora: lora(qv), 'lora-all': lora(all), 'lora-dash': lora(qv) + s.layers * 2 * 8, full: decoderLinear } };
}

/**
 * Bytes the wasm heap must hold at least, before any activation: the frozen
 * weights, plus per trainable parameter its variable, gradient and Adam's m
 * and v (full fine-tuning also keeps the original W frozen beside the
 * trained copy: it is counted in the frozen weights once and in the
 * variable once). Activations and logits come on top, so a run under this
 * bound may still run out of heap; one over it cannot fit.
 */
function stateBytes(s, method, dtype = 'float32') {
  const p = paramCounts(s);
  const matrices = p.decoderLinear + s.vocab * s.dim; // every 2-D weight: projections and the (tied) embedding
  const perWeight = { float32: 4, bfloat16: 2, int8: 1 + 4 / 32 }[dtype];
  return { frozen: perWeight * matrices + 4 * (p.total - matrices), train: 4 * 4 * p.trainable[method] };
}

function runNodeJson(script, args, env = process.env) {
  const r = spawnSync(process.execPath, [script, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 26, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return { error: `exit ${r.status ?? r.signal}${r.signal === 'SIGKILL' ? ' (killed: out of memory?)' : ''}`, peakRssBytes: 0, wasmHeapBytes: [] };
  }
}

/** The first interpreter ($PERF_PYTHON, python3 on PATH, then Debian's /usr/bin/python3) that imports torch (also used by perf.mjs). */
export function findTorchPython() {
  const tried = [];
  for (const python of [process.env.PERF_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    tried.push(`${python}: ${r.error?.message ?? (r.stderr.trim().split('\n').at(-1) || `exit ${r.status}`)}`);
  }
  return { python: null, reason: tried.join('; ') };
}

/** Runs the real-shape bench with the given command-line flags. */
export async function runScaleBench(argv) {
  const flags = parseFlags(argv);
  const shapes = String(flags.shapes).split(',').filter(Boolean);
  for (const name of shapes) if (!(name in SHAPES)) throw new Error(`--shapes: unknown shape '${name}' (known: ${Object.keys(SHAPES).join(', ')})`);
  const methods = String(flags.methods ?? 'lora,lora-all,lora-dash,full').split(',');
  for (const m of methods) if (!(m in METHOD_LABEL)) throw new Error(`--methods: unknown method '${m}' (known: ${Object.keys(METHOD_LABEL).join(', ')})`);
  const workerCounts = String(flags.workers ?? '1,2')
    .split(',')
    .map(Number);
  const timed = Number(flags.steps ?? 2);
  const warmup = Number(flags.warmup ?? 1);
  const batch = Number(flags.batch ?? 4);
  const seq = Number(flags.seq ?? 256);
  const withTorch = flags.torch !== false;
  const withLaunch = flags.launch !== false;
  const withCheckpointing = flags.checkpointing !== false;
  const checkpointingSeq = Number(flags['checkpointing-seq'] ?? 1024);
  const forceCheckpointing = flags['gradient-checkpointing'] === true;
  const pretransposeFrozen = flags.pretranspose === true;
  const frozenDtypes = String(flags['frozen-dtype'] ?? 'float32').split(',');
  for (const d of frozenDtypes) if (!['float32', 'bfloat16', 'int8'].includes(d)) throw new Error(`--frozen-dtype: unknown '${d}' (known: float32, bfloat16, int8)`);
  const started = performance.now();
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');

  console.log('tsd-peft training-throughput bench at real model shapes (issue 19)');
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${gib(totalmem())} RAM; load average ${load()} at start`);
  console.log(`batch ${batch} × ${seq}, Adam lr 1e-4, random weights in the exact shapes; ${warmup} warm-up + ${timed} timed steps per run; wasm heap limit ${gib(HEAP_MAX)}`);
  console.log(
    `frozen weights ${pretransposeFrozen ? 'with' : 'without'} pre-transposed copies; gradient checkpointing ${forceCheckpointing ? 'in every run' : 'only where a run runs out of heap without it'}`,
  );
  const entries = await bundlePerfEntries(['perf.run', 'perf.worker', 'perf.launch', 'perf.memory']);
  const torchPy = withTorch ? findTorchPython() : { python: null, reason: '--no-torch' };
  const torchScript = fileURLToPath(new URL('./perf.torch.py', import.meta.url));
  console.log(torchPy.python === null ? `PyTorch: unavailable (${torchPy.reason})` : `PyTorch ${torchPy.version} (${torchPy.python}), 2 threads, OMP_WAIT_POLICY=PASSIVE, eager attention`);

  const rows = [];
  const launches = [];
  const memory = [];
  for (const name of shapes) {
    const s = SHAPES[name];
    const p = paramCounts(s);
    console.log(`\n## ${s.label}: ${fmt(p.total / 1e6, 1)} M parameters (${fmt(p.decoderLinear / 1e6, 1)} M in decoder projections), fp32 weights ${gib(4 * p.total)}`);
    for (const method of methods) {
      for (const dtype of frozenDtypes) {
        if (method === 'full' && dtype !== 'float32') continue; // refused: full FT trains W itself in fp32
        const st = stateBytes(s, method, dtype);
        const row = { shape: s.label, method, dtype, runs: {}, torch: null, note: '' };
        rows.push(row);
        const label = `${METHOD_LABEL[method]}, frozen ${dtype}`;
        if (st.frozen + st.train > HEAP_MAX) {
          row.note = `does not fit: frozen weights ${gib(st.frozen)} + trainable state ${gib(st.train)} (params, grads, Adam m, v) = ${gib(st.frozen + st.train)} > ${gib(HEAP_MAX)} wasm heap, before activations`;
          console.log(`${label}: ${row.note}`);
        } else {
          for (const workers of workerCounts) {
            const args = { method, workers, steps: warmup + timed, warmup, shape: { name, batch, seq }, pretransposeFrozen, frozenDtype: dtype, workerScript: entries['perf.worker'] };
            let r = runNodeJson(entries['perf.run'], { ...args, gradientCheckpointing: forceCheckpointing });
            if (r.error !== undefined && !forceCheckpointing) {
              console.log(
                `${label}, ${workers} worker(s): FAILED without gradient checkpointing after ${r.stepsDone ?? 0} steps: ${r.error}; wasm heap ${gib(Number(r.wasmHeapBytes ?? 0))}, peak RSS ${mib(r.peakRssBytes)}; again with gradient checkpointing`,
              );
              row.failedWithout = { ...row.failedWithout, [workers]: r };
              r = { ...runNodeJson(entries['perf.run'], { ...args, gradientCheckpointing: true }), gradientCheckpointing: true };
            }
            if (forceCheckpointing) r.gradientCheckpointing = true;
            row.runs[workers] = r;
            console.log(
              `${label}, ${workers} worker(s): ` +
                (r.error !== undefined
                  ? `FAILED after ${r.stepsDone ?? 0} steps: ${r.error}; wasm heap ${gib(Number(r.wasmHeapBytes ?? 0))}, peak RSS ${mib(r.peakRssBytes)}`
                  : `${fmt(r.tokensPerSecond)} tok/s${r.gradientCheckpointing ? ' with gradient checkpointing' : ''} (steps ${r.stepTimes.map((t) => `${fmt(t, 1)} s`).join(', ')}), peak RSS ${mib(r.peakRssBytes)}, wasm heap ${r.wasmHeapBytes.map(mib).join(' + ')}` +
                    (r.exchangeSeconds?.length > 0
                      ? `, gradient exchange ${r.exchangeSeconds.map((x, rank) => `${fmt(x / (warmup + timed), 2)} s (waiting ${fmt((r.exchangeWaitSeconds?.[rank] ?? 0) / (warmup + timed), 2)} s)`).join(' / ')} per step per rank`
                      : '') +
                    `; load ${load()}`),
            );
          }
        }
      }
      // PyTorch runs fp32, once per method: its numbers sit on the method's first row
      const row = rows.find((r) => r.shape === s.label && r.method === method);
      if (torchPy.python !== null && method !== 'lora-dash' && row !== undefined) {
        const env = { ...process.env, OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'PASSIVE' };
        const args = JSON.stringify({ method, steps: warmup + timed, warmup, threads: 2, shape: { ...s, batch, seq } });
        try {
          row.torch = JSON.parse(
            execFileSync(torchPy.python, [torchScript, args], { env, encoding: 'utf8', maxBuffer: 1 << 26 })
              .trim()
              .split('\n')
              .at(-1),
          );
          console.log(
            `${METHOD_LABEL[method]}, PyTorch 2 threads: ${fmt(row.torch.tokensPerSecond)} tok/s (steps ${row.torch.stepTimes.map((t) => `${fmt(t, 1)} s`).join(', ')}), peak RSS ${mib(row.torch.peakRssBytes)}`,
          );
        } catch (error) {
          row.torch = { error: String(error.message).split('\n')[0] };
          console.log(`${METHOD_LABEL[method]}, PyTorch: FAILED ${row.torch.error}`);
        }
      }
    }
    if (withLaunch) {
      const r = runNodeJson(entries['perf.launch'], { shape: name });
      launches.push({ ...r, shape: s.label });
      console.log(
        `LoRA-Dash launch (exact SVD of every q/v weight, 1 thread): ${r.shapes.map((x) => `${x.rows}×${x.cols} ${fmt(x.seconds, 2)} s × ${x.count}`).join(', ')} = ${fmt(r.totalSeconds, 1)} s`,
      );
    }
    if (withCheckpointing) {
      for (const dtype of frozenDtypes) {
        const one = (gradientCheckpointing) => runNodeJson(entries['perf.memory'], { shape: name, seq: checkpointingSeq, gradientCheckpointing, pretransposeFrozen, frozenDtype: dtype });
        const [off, on] = [one(false), one(true)];
        memory.push({ shape: s.label, dtype, off, on });
        const show = (r) =>
          r.error !== undefined ? `FAILED: ${r.error}` : `peak tensor bytes ${mib(r.peakTensorBytes)}, wasm heap ${mib(r.wasmHeapBytes)}, peak RSS ${mib(r.peakRssBytes)}, step ${fmt(r.seconds, 1)} s`;
        console.log(`LoRA q,v step at 1 × ${checkpointingSeq}, frozen ${dtype}: without gradient checkpointing ${show(off)}; with ${show(on)}`);
      }
    }
  }

  // Optional: two independent 1-worker processes side by side, each on half the batch (the data-parallel ceiling).
  if (flags.ceiling === true) {
    const execFileAsync = promisify(execFile);
    for (const name of shapes) {
      const method = methods.includes('lora') ? 'lora' : methods[0];
      const startAt = Date.now() + 15000;
      const side = await Promise.all(
        [0, 1].map(async () => {
          const args = { method, workers: 1, rows: batch / 2, steps: warmup + timed, warmup, startAt, shape: { name, batch, seq }, workerScript: entries['perf.worker'] };
          const { stdout } = await execFileAsync(process.execPath, [entries['perf.run'], JSON.stringify(args)], { maxBuffer: 1 << 26 });
          return JSON.parse(stdout.trim().split('\n').at(-1));
        }),
      );
      const together = side.reduce((a, r) => a + (r.tokensPerSecond ?? 0), 0);
      const row = rows.find((r) => r.shape === SHAPES[name].label && r.method === method);
      const one = row?.runs[1]?.tokensPerSecond;
      const two = row?.runs[2]?.tokensPerSecond;
      console.log(
        `\n${SHAPES[name].label} ${method}: two 1-thread processes side by side, ${batch / 2} rows each: ${fmt(together)} tok/s together` +
          (one === undefined ? '' : ` = ${fmt(together / one, 2)}× the 1-worker run`) +
          (two === undefined ? '' : `; 2 data-parallel workers reach ${fmt((100 * two) / together)}% of it`),
      );
    }
  }

  // The Markdown table for the README.
  const tps = (r) => (r === undefined ? '—' : r.error !== undefined ? `failed (${r.error.slice(0, 40)})` : `${fmt(r.tokensPerSecond)}${r.gradientCheckpointing ? ' (GC)' : ''}`);
  console.log(forceCheckpointing ? '\n(GC): with gradient checkpointing (--gradient-checkpointing)' : '\n(GC): only fits with gradient checkpointing; the run without it ran out of the wasm heap');
  console.log(
    `| model | method | frozen | tok/s, 1 worker | tok/s, 2 workers | PyTorch 2 threads | ratio (2 workers ÷ PyTorch) | 1,000 × ${seq} tokens, 2 workers | peak RSS, 1 / 2 workers | peak wasm heap per replica |`,
  );
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const [one, two] = [row.runs[1], row.runs[2]];
    const t = row.torch;
    const torchCell = t === null ? '—' : t.error !== undefined ? 'failed' : fmt(t.tokensPerSecond);
    if (row.note !== '') {
      console.log(
        `| ${row.shape} | ${METHOD_LABEL[row.method]} | ${row.dtype} | does not fit | does not fit | ${torchCell} | — | — | — | > ${gib(HEAP_MAX)} (${row.note.split(':')[1].split(' =')[0].trim()}) |`,
      );
      continue;
    }
    const best = two?.tokensPerSecond ?? one?.tokensPerSecond;
    const ratio = best !== undefined && t !== null && t.error === undefined && two?.tokensPerSecond !== undefined ? `${fmt(two.tokensPerSecond / t.tokensPerSecond, 2)}×` : '—';
    const epoch = best === undefined ? '—' : duration((1000 * seq) / (best * (seq / (seq - 1))));
    const rss = [one, two].map((r) => (r === undefined ? '—' : mib(r.peakRssBytes))).join(' / ');
    const heap = [one, two].map((r) => (r === undefined ? '—' : Array.isArray(r.wasmHeapBytes) ? r.wasmHeapBytes.map(mib).join(', ') : mib(r.wasmHeapBytes))).join(' / ');
    console.log(`| ${row.shape} | ${METHOD_LABEL[row.method]} | ${row.dtype} | ${tps(one)} | ${tps(two)} | ${torchCell} | ${ratio} | ${epoch} | ${rss} | ${heap} |`);
  }
  if (launches.length > 0) {
    console.log('\n| model | LoRA-Dash launch: exact SVDs of the q/v weights (1 thread) | per weight shape | share of 1,000 steps (1 worker, LoRA-Dash) |');
    console.log('| --- | ---: | --- | ---: |');
    for (const l of launches) {
      const row = rows.find((r) => r.shape === l.shape && r.method === 'lora-dash' && r.dtype === 'float32') ?? rows.find((r) => r.shape === l.shape && r.method === 'lora-dash');
      const step = row?.runs[1]?.stepSeconds;
      const share = step === undefined ? '—' : `${fmt((100 * l.totalSeconds) / (l.totalSeconds + 1000 * step), 2)}% (step ${fmt(step, 1)} s)`;
      console.log(`| ${l.shape} | ${fmt(l.totalSeconds, 1)} s | ${l.shapes.map((x) => `${x.count} × ${x.rows}×${x.cols}: ${fmt(x.seconds, 2)} s each`).join('; ')} | ${share} |`);
    }
  }
  if (memory.length > 0) {
    console.log(`\n| model (LoRA q,v, batch 1 × ${checkpointingSeq}) | frozen | peak tensor bytes, off / on | peak wasm heap, off / on | peak RSS, off / on | step time, off / on |`);
    console.log('| --- | --- | ---: | ---: | ---: | ---: |');
    // a run that aborted (out of wasm heap) has no numbers: say where it stopped
    const cell = (r, k, f) => (r.error !== undefined ? `failed at wasm heap ${mib(Number(r.wasmHeapBytes ?? 0))}` : f(r[k]));
    for (const m of memory) {
      console.log(
        `| ${m.shape} | ${m.dtype} | ${cell(m.off, 'peakTensorBytes', mib)} / ${cell(m.on, 'peakTensorBytes', mib)} | ${cell(m.off, 'wasmHeapBytes', mib)} / ${cell(m.on, 'wasmHeapBytes', mib)} | ` +
          `${cell(m.off, 'peakRssBytes', mib)} / ${cell(m.on, 'peakRssBytes', mib)} | ${cell(m.off, 'seconds', (x) => `${fmt(x, 1)} s`)} / ${cell(m.on, 'seconds', (x) => `${fmt(x, 1)} s`)} |`,
      );
    }
  }
  console.log(`\nload average ${load()} at the end; bench wall time ${duration((performance.now() - started) / 1000)}`);
}
