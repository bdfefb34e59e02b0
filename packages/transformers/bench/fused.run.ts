/**
 * Before/after of the wasm training-step changes of issue 19 (item 2), in one
 * process, side by side: `before` = tfjs's own backward-pass disposal and the
 * composed RMSNorm/SwiGLU/RoPE (setEagerBackpropEnabled(false),
 * setFusedOpsEnabled(false)); `after` = eager release + fused ops (the
 * default). Per model and method it alternates before/after steps (order
 * swapped each round, so load from other processes hits both alike) and
 * reports the median CPU time per step (wasm is single-threaded, so CPU time
 * is compute time even on a shared machine) and the step's peak of live wasm
 * allocations above the model (malloc/free of the wasm heap, tracked exactly).
 * For a real shape it also times `before` with gradient checkpointing, which
 * is what such a model needed to fit in the 4 GiB wasm heap before.
 * Arguments: one JSON object { rounds, layers }; bundled by fused.bench.mjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AdamOptimizer, injectAdapters, setEagerBackpropEnabled, setFusedOpsEnabled, setupBackend } from '@tsd-peft/tfjs';
import { disposeWeights } from '../src/models/weights.js';
import { randomCausalLM } from '../src/parallel/random-model.js';
import { causalLmLoss } from '../src/training/loss.js';
import { adapterFor, BATCH, PERF_CONFIG, SEQ } from './perf.model.js';
import { REAL_SHAPES, scaleAdapterFor } from './perf.shapes.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { rounds?: number; layers?: number };
const ROUNDS = args.rounds ?? 5;
await setupBackend('wasm');

// exact live bytes of the wasm heap: tfjs allocates every tensor with the module's malloc and frees with free
const wasm = (tf.backend() as unknown as { wasm: { asm: { malloc: (n: number) => number; free: (p: number) => void }; _malloc: unknown; _free: unknown } }).wasm;
const sizes = new Map<number, number>();
let live = 0;
let peak = 0;
const { malloc, free } = wasm.asm;
wasm._malloc = (n: number) => {
  const p = malloc(n);
  sizes.set(p >>> 0, n); // malloc returns a signed offset above 2 GiB; free gets it unsigned
  live += n;
  peak = Math.max(peak, live);
  return p;
};
wasm._free = (p: number) => {
  live -= sizes.get(p >>> 0) ?? 0;
  sizes.delete(p >>> 0);
  free(p);
};

interface Mode {
  name: string;
  optimized: boolean;
  checkpointing: boolean;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function measure(label: string, config: Record<string, unknown>, adapter: Parameters<typeof injectAdapters>[1], batch: number, seq: number, modes: Mode[]) {
  const { replica, weights } = randomCausalLM(config as never, 7);
  const model = injectAdapters(weights, adapter);
  const vocab = config['vocab_size'] as number;
  const ids = tf.tensor2d(
    Int32Array.from({ length: batch * seq }, (_, i) => (i * 7919 + 13) % vocab),
    [batch, seq],
    'int32',
  );
  const optimizer = new AdamOptimizer({ type: 'adam' });
  const step = (mode: Mode) => {
    setEagerBackpropEnabled(mode.optimized);
    setFusedOpsEnabled(mode.optimized);
    if (mode.checkpointing) replica.gradientCheckpointingEnable();
    else replica.gradientCheckpointingDisable();
    const base = live;
    peak = live;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(() => causalLmLoss(replica.forward({ inputIds: ids }, weights, model), ids), [...vars.values()]);
    const loss = value.dataSync()[0] as number;
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of vars) if (grads[v.name] !== undefined) byName.set(name, grads[v.name] as tf.Tensor);
    optimizer.applyGradients(vars, byName, 0); // lr 0: every mode sees the same weights
    tf.dispose([value, ...byName.values()]);
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t0, peakBytes: peak - base, loss };
  };
  for (const mode of modes) step(mode); // warm-up: kernels compiled, heap grown
  const results = new Map(modes.map((m) => [m.name, [] as ReturnType<typeof step>[]]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) results.get(mode.name)?.push(step(mode));
  }
  const before = results.get(modes[0]?.name ?? '') ?? [];
  const summary = modes.map((mode) => {
    const runs = results.get(mode.name) ?? [];
    return {
      mode: mode.name,
      cpuMs: median(runs.map((x) => x.cpuMs)),
      wallMs: median(runs.map((x) => x.wallMs)),
      peakMiB: Math.max(...runs.map((x) => x.peakBytes)) / 2 ** 20,
      loss: runs[0]?.loss,
      speedup: median(before.map((x) => x.cpuMs)) / median(runs.map((x) => x.cpuMs)),
    };
  });
  optimizer.dispose();
  model.dispose();
  replica.dispose();
  disposeWeights(weights);
  ids.dispose();
  return { label, summary };
}

const before: Mode = { name: 'before', optimized: false, checkpointing: false };
const after: Mode = { name: 'after', optimized: true, checkpointing: false };
const out = [];
for (const method of ['lora', 'full'] as const) {
  out.push(measure(`toy perf model (dim 256, 4 layers, batch ${BATCH} × ${SEQ}), ${method}`, PERF_CONFIG, adapterFor(method), BATCH, SEQ, [before, after]));
}
const layers = args.layers ?? 4;
out.push(
  measure(
    `SmolLM2-135M shapes, ${layers} of 30 layers + tied 49,152 head, batch 4 × 256, LoRA q,v`,
    { ...REAL_SHAPES['smollm2-135m'], num_hidden_layers: layers },
    { ...scaleAdapterFor('lora'), pretransposeFrozen: false },
    4,
    256,
    [{ name: 'before, gradient checkpointing', optimized: false, checkpointing: true }, before, after],
  ),
);
console.log(JSON.stringify(out));
