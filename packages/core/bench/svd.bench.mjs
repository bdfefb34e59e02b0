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

function timeIt(fn) {
  const times = [];
  let result;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    result = fn();
    times.push((performance.now() - t0) / 1000);
  }
  return { seconds: median(times), result };
}

const NUMPY = `
import sys, json, time
import numpy as np
m, n, runs = (int(x) for x in sys.argv[1:4])
a = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).reshape(m, n).astype(np.float64)
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    s = np.linalg.svd(a, full_matrices=False, compute_uv=True)[1]
    times.append(time.perf_counter() - t0)
info = ''
try:
    from threadpoolctl import threadpool_info
    info = '; '.join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} threads={p.get('num_threads')}" for p in threadpool_info())
except Exception:
    pass
print(json.dumps({'seconds': sorted(times)[len(times) // 2], 'S': s.tolist(), 'info': info}))
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

console.log(`node ${process.version}, ${RUNS} runs each, median wall time`);
for (const [m, n] of SHAPES) {
  const a = randomFloat32(m, n, m * 31 + n);
  const ours = timeIt(() => svd(a));
  const np = numpySvd(a);
  let line = `svd ${m}×${n} float32: ours ${ours.seconds.toFixed(3)} s`;
  if (np === null) {
    line += ', numpy unavailable';
  } else {
    let maxDiff = 0;
    for (let i = 0; i < np.S.length; i++) maxDiff = Math.max(maxDiff, Math.abs(np.S[i] - ours.result.S[i]));
    line += `, numpy ${np.seconds.toFixed(3)} s, ratio ${(ours.seconds / np.seconds).toFixed(2)}×, max |ΔS| ${maxDiff.toExponential(1)}`;
    if (np.info) line += ` [${np.info}]`;
  }
  console.log(line);
  for (const rank of [8, 32]) {
    const r = timeIt(() => randomizedSvd(a, { rank, seed: 1 }));
    let rel = 0;
    for (let i = 0; i < rank; i++) rel = Math.max(rel, Math.abs(r.result.S[i] / ours.result.S[i] - 1));
    console.log(`  randomizedSvd rank ${rank} (p=10, q=2): ${r.seconds.toFixed(3)} s, max relative σ error ${rel.toExponential(1)}`);
  }
}
