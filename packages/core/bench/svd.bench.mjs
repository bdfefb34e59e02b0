// Benchmark of @tsd-peft/core's SVD against numpy (LAPACK gesdd), single-threaded.
// Run with `npm run bench -w @tsd-peft/core` (builds dist/ first). Timings are
// wall-clock medians; on a shared machine, run it when the cores are idle.
import { spawnSync } from 'node:child_process';
import { Rng, randomizedSvd, svd } from '../dist/index.js';

const SHAPES = [
  [1024, 1024],
  [576, 1536], // SmolLM2-135M MLP (gate/up transposed: [in, out] = 576×1536)
];
const RUNS = 3;

function randomFloat32(m, n, seed) {
  const rng = Rng.fromSeed(seed);
  const data = new Float32Array(m * n);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { rows: m, cols: n, data };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall and CPU seconds of RUNS calls (CPU time is steadier on a shared machine). */
function timeIt(fn) {
  const wall = [];
  const cpu = [];
  let result;
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    result = fn();
    wall.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { seconds: median(wall), cpu: median(cpu), result };
}

/** A with column j scaled by 0.9^j: a decaying spectrum, where randomized SVD is meant to be used. */
function decaying(a) {
  const data = Float32Array.from(a.data);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) data[i * a.cols + j] *= 0.9 ** j;
  return { rows: a.rows, cols: a.cols, data };
}

const NUMPY = `
import sys, json, time
import numpy as np
m, n, runs = (int(x) for x in sys.argv[1:4])
a = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).reshape(m, n).astype(np.float64)
times = []
cpu = []
for _ in range(runs):
    t0 = time.perf_counter()
    c0 = time.process_time()
    s = np.linalg.svd(a, full_matrices=False, compute_uv=True)[1]
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
info = ''
try:
    from threadpoolctl import threadpool_info
    info = '; '.join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} threads={p.get('num_threads')}" for p in threadpool_info())
except Exception:
    pass
print(json.dumps({'seconds': sorted(times)[len(times) // 2], 'cpu': sorted(cpu)[len(cpu) // 2], 'S': s.tolist(), 'info': info}))
`;

/** numpy's median time on the same matrix, single-threaded; null when python3/numpy are missing. */
function numpySvd(a) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  // Set on some hosts for old OpenBLAS builds; they slow a current numpy (unset here only).
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const out = spawnSync('python3', ['-c', NUMPY, String(a.rows), String(a.cols), String(RUNS)], {
    input: Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength),
    env,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (out.status !== 0 || out.error) return null;
  try {
    return JSON.parse(out.stdout);
  } catch {
    return null;
  }
}

// Warm the JIT on a mid-sized problem so the first timed run is not an outlier.
svd(randomFloat32(300, 200, 1));

console.log(`node ${process.version}, ${RUNS} runs each, median wall time (CPU time in parentheses)`);
for (const [m, n] of SHAPES) {
  const a = randomFloat32(m, n, m * 31 + n);
  const ours = timeIt(() => svd(a));
  const np = numpySvd(a);
  let line = `svd ${m}×${n} float32: ours ${ours.seconds.toFixed(3)} s (${ours.cpu.toFixed(3)} s)`;
  if (np === null) {
    line += ', numpy unavailable';
  } else {
    let maxDiff = 0;
    for (let i = 0; i < np.S.length; i++) maxDiff = Math.max(maxDiff, Math.abs(np.S[i] - ours.result.S[i]));
    line += `, numpy ${np.seconds.toFixed(3)} s (${np.cpu.toFixed(3)} s), ratio ${(ours.seconds / np.seconds).toFixed(2)}× (${(ours.cpu / np.cpu).toFixed(2)}×), max |ΔS| ${maxDiff.toExponential(1)}`;
    if (np.info) line += ` [${np.info}]`;
  }
  console.log(line);
  const d = decaying(a);
  const exact = svd(d);
  for (const rank of [8, 32]) {
    const r = timeIt(() => randomizedSvd(d, { rank, seed: 1 }));
    let rel = 0;
    for (let i = 0; i < rank; i++) rel = Math.max(rel, Math.abs(r.result.S[i] / exact.S[i] - 1));
    console.log(`  randomizedSvd rank ${rank} (p=10, q=2): ${r.seconds.toFixed(3)} s (${r.cpu.toFixed(3)} s), ` + `max relative σ error ${rel.toExponential(1)} on A·diag(0.9^j)`);
  }
}
