/**
 * A fine-tuning method defined outside the packages, through the public
 * entries only: LoRA-FA (Zhang et al. 2023, "LoRA-FA: memory-efficient
 * low-rank adaptation"): A is frozen at its random init, only B trains.
 * `registerVariant` adds it; it then trains, checkpoints and resumes bit for
 * bit, saves and reloads as a native adapter, and exports to PEFT, like a
 * built-in method. It also keeps state of its own that no other method has
 * (a step counter in its JSON meta and an F64 vector), which checkpoints
 * and native files persist through its state record. DoRA, the last
 * built-in method added, runs the same course.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  combineRecords,
  initLoraWeights,
  loraFactorsRecord,
  parseNativeAdapter,
  parsePeftAdapter,
  readLoraFactors,
  recordVector,
  serializeNativeAdapter,
  serializePeftAdapter,
  vectorTensor,
  type LoraFactors,
} from '@tsd-peft/core';
import { ADAPTER_METHODS, indexedBatches, injectAdapters, injectPeftAdapter, registerVariant, setupBackend, train, type AdapterModel, type ModuleContext, type Variant } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The bench from its sources, so it sees this file's registry (its dist would load another copy of tfjs).
import { parseBenchArgs } from '../apps/bench/src/args.js';
import { benchMethods } from '../apps/bench/src/report/methods.js';
import { methodColor } from '../apps/bench/src/svg/frame.js';
import { mlpToy } from '../packages/tfjs/src/test-fixtures/mlp-toy.js';

/**
 * LoRA-FA's state: the frozen A (owned here, not a variable) and the
 * trainable B; and, as state of its own, the optimizer steps it has seen and
 * the running sum over steps of ‖B_o‖ per output row o (a history that
 * cannot be recomputed from the weights, so it must be persisted).
 */
interface LoraFaState {
  readonly A: tf.Tensor2D;
  readonly B: tf.Variable;
  readonly scaling: number;
  readonly steps: number;
  readonly rowNormSum: Float64Array;
}

function readFactors(s: LoraFaState): LoraFactors {
  const [r, inDim] = s.A.shape;
  return {
    A: { rows: r, cols: inDim, data: Float32Array.from(s.A.dataSync()) },
    B: { rows: s.B.shape[0] as number, cols: r, data: Float32Array.from(s.B.dataSync()) },
    scaling: s.scaling,
  };
}

function setFactors(f: LoraFactors, s: LoraFaState): LoraFaState {
  s.A.dispose();
  tf.tidy(() => s.B.assign(tf.tensor2d(f.B.data, [f.B.rows, f.B.cols])));
  return { ...s, A: tf.tensor2d(f.A.data, [f.A.rows, f.A.cols]), scaling: f.scaling };
}

/** After each step: one more step seen, and each row norm of B added to its running sum (in float64). */
function accumulate(s: LoraFaState): LoraFaState {
  const B = s.B.dataSync();
  const r = s.B.shape[1] as number;
  const rowNormSum = Float64Array.from(s.rowNormSum, (sum, o) => sum + Math.hypot(...B.subarray(o * r, (o + 1) * r)));
  return { ...s, steps: s.steps + 1, rowNormSum };
}

const loraFa: Variant<LoraFaState> = {
  name: 'lora-fa',
  init: (ctx: ModuleContext) => {
    const { r, alpha, useRslora } = ctx.config;
    const { factors } = initLoraWeights(ctx.original(), { method: 'lora', r, alpha, useRslora, rng: ctx.rng, name: ctx.name });
    // B = 0 as in LoRA; A frozen (never a variable, so neither gradients nor optimizer state).
    const A = tf.tensor2d(factors.A.data, [factors.A.rows, factors.A.cols]);
    const B = ctx.createVariable('lora_B.weight', tf.tensor2d(factors.B.data, [factors.B.rows, factors.B.cols]));
    return { A, B, scaling: factors.scaling, steps: 0, rowNormSum: new Float64Array(factors.B.rows) };
  },
  forward: (x, s) => tf.tidy(() => tf.mul(tf.matMul(tf.matMul(x, s.A, false, true), s.B, false, true), s.scaling) as tf.Tensor2D),
  parts: (s) => ({ factors: readFactors(s) }),
  setFactors: (f, s) => setFactors(f, s),
  afterStep: (_completed, s) => accumulate(s),
  hostReadsAfterStep: (_completed, s) => [s.B],
  // Its record: core's LoRA factor part plus its own F64 tensor and meta field.
  saveState: (s) => combineRecords(loraFactorsRecord(readFactors(s)), { tensors: { row_norm_sum: vectorTensor(s.rowNormSum) }, meta: { steps: s.steps } }),
  loadState: (record, s, ctx) => {
    const at = { module: ctx.name };
    const rowNormSum = recordVector(record, 'row_norm_sum', at, Float64Array, ctx.frozen.outFeatures) as Float64Array;
    const steps = record.meta.steps;
    if (typeof steps !== 'number') throw new ConfigError('LoRA-FA state needs a step count', { field: `${ctx.name}.steps` });
    return { ...setFactors(readLoraFactors(record, at), s), steps, rowNormSum: Float64Array.from(rowNormSum) };
  },
  dispose: (s) => s.A.dispose(),
};

const STEPS = 12;
// The toy data only (seeded weights, batches, fc2(relu(fc1(x)))), from tfjs's test fixtures.
const toy = mlpToy({ seed: 5, batchSeed: 100, inDim: 10, hidden: 14, outDim: 3, rows: 8, teacher: (x, k) => Math.cos((x[(k * 3) % x.length] as number) + k) });
const { probe, output } = toy;

let weights: Map<string, tf.Tensor2D>;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tsd-variant-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  await setupBackend('cpu');
  weights = toy.weights();
  registerVariant(loraFa);
});
afterAll(() => {
  tf.dispose([...weights.values()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function run(method: string, dir: string, options: { crashAt?: number; resume?: boolean } = {}) {
  const model = injectAdapters(weights, { method, r: 2, alpha: 4, targetModules: ['fc1', 'fc2'], seed: 3 });
  const losses: number[] = [];
  try {
    await train({
      model,
      data: indexedBatches(toy.batchAt),
      lossFn: (b) => toy.loss(model, b),
      steps: STEPS,
      lr: 2e-2,
      checkpoint: { dir, every: 4 },
      resume: options.resume ?? false,
      onProgress: (e) => {
        losses.push(e.loss);
        if (e.step === options.crashAt) throw new Error('simulated crash');
      },
    });
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, losses };
}

describe('registerVariant', () => {
  it('adds the method to the registry’s method list and refuses a taken or malformed name', () => {
    expect(ADAPTER_METHODS).toContain('lora-fa');
    expect(ADAPTER_METHODS).toContain('dora');
    expect(() => registerVariant(loraFa)).toThrow(ConfigError);
    expect(() => registerVariant({ ...loraFa, name: 'Bad Name' })).toThrow(/lower-case/);
    expect(() => injectAdapters(weights, { method: 'no-such-method' })).toThrow(/unknown method 'no-such-method'.*lora-fa/);
  });

  it('puts the method in the bench without editing it: method list, --methods and a colour of its own', () => {
    expect(benchMethods()).toContain('lora-fa');
    expect(benchMethods().at(-1)).toBe('lora-tsd'); // a non-TSD method goes before the TSD group
    const builtinColors = benchMethods()
      .filter((m) => m !== 'lora-fa')
      .map((m) => methodColor(m));
    expect(methodColor('lora-fa')).toMatch(/^#[0-9a-f]{6}$/);
    expect(builtinColors).not.toContain(methodColor('lora-fa'));
    const parsed = parseBenchArgs(['--methods', 'lora-fa,lora', '--r', '4']);
    expect(parsed.help ? null : parsed.options.pairs).toEqual([
      { method: 'lora-fa', r: 4 },
      { method: 'lora', r: 4 },
    ]);
  });

  it('LoRA-FA trains only B (A stays at its init)', async () => {
    const { model, losses } = await run('lora-fa', tempDir());
    expect([...model.trainableVariables().keys()]).toEqual(['fc1.lora_B.weight', 'fc2.lora_B.weight']);
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
    const fresh = injectAdapters(weights, { method: 'lora-fa', r: 2, alpha: 4, targetModules: ['fc1', 'fc2'], seed: 3 });
    const a = (m: AdapterModel) => m.toNativeAdapter().modules.get('fc1')?.tensors['lora_A.weight']?.data;
    expect(a(model)).toEqual(a(fresh));
    fresh.dispose();
    model.dispose();
  });

  it.each(['lora-fa', 'dora'])('%s: a crashed run resumes from its checkpoint bit for bit; native save/load and PEFT export reproduce its outputs', async (method) => {
    const straight = await run(method, tempDir());
    const dir = tempDir();
    await expect(run(method, dir, { crashAt: 6 })).rejects.toThrow('simulated crash');
    const resumed = await run(method, dir, { resume: true });
    const values = (m: AdapterModel) => Object.fromEntries([...m.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())]));
    expect(values(resumed.model)).toEqual(values(straight.model));
    expect(resumed.losses).toEqual(straight.losses.slice(4));
    // the whole state record resumes too, the method's own state included
    const record = (m: AdapterModel) => m.toNativeAdapter().modules.get('fc1');
    expect(record(resumed.model)).toEqual(record(straight.model));
    if (method === 'lora-fa') {
      expect(record(straight.model)?.meta.steps).toBe(STEPS);
      expect(record(straight.model)?.tensors.row_norm_sum?.data).toBeInstanceOf(Float64Array);
      expect(record(straight.model)?.tensors.row_norm_sum?.data.every((v) => v > 0)).toBe(true);
    }
    resumed.model.dispose();

    const x = probe();
    const want = output(straight.model, x).dataSync();
    // native format: bytes → a fresh model of the same method gives the same outputs
    const native = parseNativeAdapter(serializeNativeAdapter(straight.model.toNativeAdapter()));
    const reloaded = injectAdapters(weights, { method, r: 2, alpha: 4, targetModules: ['fc1', 'fc2'], seed: 99 });
    reloaded.loadNativeAdapter(native);
    expect(output(reloaded, x).dataSync()).toEqual(want);
    expect(record(reloaded)).toEqual(record(straight.model));
    reloaded.dispose();
    // PEFT: written and parsed back, loaded on the untouched weights (LoRA-FA as plain LoRA, DoRA as DoRA)
    const files = serializePeftAdapter(straight.model.toPeftAdapter());
    const peft = parsePeftAdapter(files.configJson, files.weights);
    expect(peft.config.use_dora).toBe(method === 'dora');
    const fromPeft = injectPeftAdapter(weights, peft);
    const got = output(fromPeft, x).dataSync();
    want.forEach((v, i) => expect(Math.abs((got[i] as number) - v)).toBeLessThan(1e-5));
    // merged weights (the variant's merge) give the same outputs
    fromPeft.merge();
    const merged = output(fromPeft, x).dataSync();
    want.forEach((v, i) => expect(Math.abs((merged[i] as number) - v)).toBeLessThan(1e-5));
    fromPeft.dispose();
    x.dispose();
    straight.model.dispose();
  });
});
