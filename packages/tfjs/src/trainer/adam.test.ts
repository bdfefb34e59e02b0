import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError } from '@tsd-peft/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdamOptimizer, resolveAdamConfig, type AdamConfig } from './adam.js';
import { useBackend } from './test-fixtures/backend.js';

/**
 * Hand-written reference of torch.optim.Adam/AdamW (`_single_tensor_adam`,
 * non-capturable path) for one parameter tensor. `round` is applied after
 * every tensor operation: identity gives the float64 formula, Math.fround
 * gives torch's fp32 operation order with its Python-float scalars cast to
 * fp32 (the scalar CPU kernels; torch's AVX kernels fuse lerp and add-with-alpha
 * into FMAs, which no tfjs backend has).
 */
function referenceAdam(p0: number[], grads: number[][], lrs: number[], config: AdamConfig, round: (x: number) => number): number[][] {
  const { type, beta1, beta2, eps, weightDecay } = resolveAdamConfig(config);
  const s = (x: number) => (round === Math.fround ? Math.fround(x) : x); // Python float → fp32 scalar
  let p = [...p0];
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  const trajectory: number[][] = [];
  grads.forEach((g0, i) => {
    const t = i + 1;
    const lr = lrs[i] as number;
    const bc1 = 1 - beta1 ** t;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const stepSize = lr / bc1;
    let g = [...g0];
    if (weightDecay !== 0 && type === 'adamw') p = p.map((pj) => round(pj * s(1 - lr * weightDecay)));
    if (weightDecay !== 0 && type === 'adam') g = g.map((gj, j) => round(gj + round((p[j] as number) * s(weightDecay))));
    // torch.lerp(m, g, w): m + w·(g − m) when |w| < 0.5, else g − (g − m)·(1 − w).
    const w = s(1 - beta1);
    m = m.map((mj, j) => {
      const diff = round((g[j] as number) - mj);
      return Math.abs(w) < 0.5 ? round(mj + round(diff * w)) : round((g[j] as number) - round(diff * s(1 - w)));
    });
    v = v.map((vj, j) => round(round(vj * s(beta2)) + round(round((g[j] as number) * s(1 - beta2)) * (g[j] as number))));
    const denom = v.map((vj) => round(round(round(Math.sqrt(vj)) / s(bc2Sqrt)) + s(eps)));
    p = p.map((pj, j) => round(pj + round(round((m[j] as number) * s(-stepSize)) / (denom[j] as number))));
    trajectory.push([...p]);
  });
  return trajectory;
}

function randomCase(seed: number, n: number, steps: number): { p0: number[]; grads: number[][]; lrs: number[] } {
  const rng = Rng.fromSeed(seed);
  const f = () => Math.fround(rng.normal());
  // Gradients span magnitudes 1e-3..1e1 so that both eps-dominated and gradient-dominated denominators occur.
  const grads = Array.from({ length: steps }, () => Array.from({ length: n }, (_, j) => Math.fround(f() * 10 ** ((j % 5) - 3))));
  return { p0: Array.from({ length: n }, f), grads, lrs: Array.from({ length: steps }, (_, i) => 1e-2 * (1 + i / steps)) };
}

/** A variable from an initial value, releasing the initial tensor (tf.variable keeps its own reference). */
function makeVariable(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init);
  init.dispose();
  return v;
}

function runTfAdam(p0: number[], grads: number[][], lrs: number[], config: AdamConfig): number[][] {
  const optimizer = new AdamOptimizer(config);
  const p = makeVariable(tf.tensor1d(p0));
  const vars = new Map([['p', p]]);
  const trajectory: number[][] = [];
  grads.forEach((g, i) => {
    const grad = tf.tensor1d(g);
    optimizer.applyGradients(vars, new Map([['p', grad]]), lrs[i] as number);
    grad.dispose();
    trajectory.push(Array.from(p.dataSync()));
  });
  optimizer.dispose();
  p.dispose();
  return trajectory;
}

const configs: AdamConfig[] = [
  { type: 'adam' },
  { type: 'adam', weightDecay: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-6 },
  { type: 'adamw' },
  { type: 'adamw', weightDecay: 0.3, beta1: 0.3 }, // beta1 < 0.5 exercises torch.lerp's second branch
];

describe.each(['cpu', 'wasm'] as const)('AdamOptimizer on %s', (backend) => {
  beforeAll(() => useBackend(backend));
  let before = 0;
  afterEach(() => expect(tf.memory().numTensors).toBe(before));

  it.each(configs)('matches the float64 reference of torch %o over 6 steps', (config) => {
    before = tf.memory().numTensors;
    const { p0, grads, lrs } = randomCase(11, 40, 6);
    const ours = runTfAdam(p0, grads, lrs, config);
    const ref = referenceAdam(p0, grads, lrs, config, (x) => x);
    // fp32 storage of p (|p| ≲ 3) bounds the gap near 3·2⁻²⁴ ≈ 2e-7 per step; 6 steps and rounding of
    // m, v, denom stay well under 2e-6 absolute.
    ours.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - (ref[i]?.[j] as number))).toBeLessThan(2e-6)));
  });

  it.each(configs)('reproduces torch fp32 operation order %o', (config) => {
    before = tf.memory().numTensors;
    const { p0, grads, lrs } = randomCase(12, 40, 6);
    const ours = runTfAdam(p0, grads, lrs, config);
    const ref = referenceAdam(p0, grads, lrs, config, Math.fround);
    // Both backends evaluate each elementwise op correctly rounded to fp32 (cpu: in float64 then one
    // rounding; wasm: native fp32 without FMA contraction), so the same operation order gives the
    // same bits. Any reordering of torch's formula shows up here.
    expect(ours).toEqual(ref);
  });
});

describe.each(['cpu', 'wasm'] as const)('AdamOptimizer groups on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  /** Mixed shapes, repeated so groups form; `late` ones get their first gradient at step 3. */
  const shapes: Record<string, number[]> = { a0: [3, 4], b0: [5], a1: [3, 4], late0: [5], b1: [5], a2: [3, 4], c: [2, 2, 2], late1: [3, 4] };
  const gradOf = (name: string, step: number): tf.Tensor => {
    const rng = Rng.fromSeed(97 * step + name.length * 7 + name.charCodeAt(0) + (name.charCodeAt(name.length - 1) << 4));
    const shape = shapes[name] as number[];
    return tf.tensor(
      Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => rng.normal()),
      shape,
    );
  };
  /** Which variables get a gradient in `step` (some skip a step, as with grad=None). */
  const present = (name: string, step: number) => (!name.startsWith('late') || step >= 3) && !(name === 'a1' && step === 4);

  function run(config: AdamConfig, together: boolean): Map<string, number[]> {
    const vars = new Map(Object.entries(shapes).map(([name, shape]) => [name, makeVariable(tf.fill(shape, name.length / 10))]));
    const optimizers = together ? [new AdamOptimizer(config)] : Object.keys(shapes).map(() => new AdamOptimizer(config));
    for (let step = 0; step < 7; step++) {
      const scale = tf.scalar(0.5 + step / 10);
      const grads = new Map(
        Object.keys(shapes)
          .filter((n) => present(n, step))
          .map((n) => [n, gradOf(n, step)]),
      );
      if (step === 5) {
        // LoRA-Init-style reset of part of a group: b0 restarts at t = 1 while b1 goes on.
        for (const opt of together ? optimizers : [optimizers[1] as AdamOptimizer]) opt.resetState(['b0']);
      }
      if (together) (optimizers[0] as AdamOptimizer).applyGradients(vars, grads, 1e-2, scale);
      else {
        Object.keys(shapes).forEach((n, i) => {
          const g = grads.get(n);
          if (g !== undefined) (optimizers[i] as AdamOptimizer).applyGradients(vars, new Map([[n, g]]), 1e-2, scale);
        });
      }
      tf.dispose([scale, ...grads.values()]);
    }
    const out = new Map([...vars].map(([n, v]) => [n, Array.from(v.dataSync())]));
    if (together) {
      const opt = optimizers[0] as AdamOptimizer;
      expect(opt.stepOf('a0')).toBe(7);
      expect(opt.stepOf('a1')).toBe(6);
      expect(opt.stepOf('late0')).toBe(4);
      expect(opt.stepOf('b0')).toBe(2);
    }
    optimizers.forEach((opt) => opt.dispose());
    tf.dispose([...vars.values()]);
    return out;
  }

  it.each(configs)('updates stacked groups to the same bits as one variable at a time %o', (config) => {
    const before = tf.memory().numTensors;
    const together = run(config, true);
    const alone = run(config, false);
    expect(together).toEqual(alone);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('launches a fixed number of kernels per shape group, not ~15 per variable', async () => {
    const kernelsFor = async (n: number) => {
      const vars = new Map(Array.from({ length: n }, (_, i) => [`w${i}`, makeVariable(tf.ones([4, 8]))] as const));
      const grads = new Map([...vars.keys()].map((name) => [name, tf.fill([4, 8], 0.25)] as const));
      const optimizer = new AdamOptimizer({ type: 'adamw' });
      optimizer.applyGradients(vars, grads, 1e-3); // first step builds the group
      const profile = await tf.profile(() => optimizer.applyGradients(vars, grads, 1e-3));
      optimizer.dispose();
      tf.dispose([...vars.values(), ...grads.values()]);
      return profile.kernels.length;
    };
    const [few, many] = [await kernelsFor(2), await kernelsFor(34)];
    // Per extra variable: its share of the stacks and one slice of the unstack (plus free reshapes);
    // the elementwise kernels run once per group. Updating variable by variable took ~15 each.
    expect((many - few) / 32).toBeLessThanOrEqual(5);
  });
});

describe('AdamOptimizer state', () => {
  beforeAll(() => useBackend('cpu'));

  it('starts state per variable at its first gradient, with its own step count', () => {
    const optimizer = new AdamOptimizer({ type: 'adam' });
    const a = makeVariable(tf.tensor1d([1, 2]));
    const late = makeVariable(tf.tensor1d([0.5, -0.5, 0]));
    const vars = new Map([
      ['a', a],
      ['late', late],
    ]);
    const ga = tf.tensor1d([0.1, -0.2]);
    for (let i = 0; i < 5; i++) optimizer.applyGradients(vars, new Map([['a', ga]]), 0.01);
    expect(optimizer.stepOf('a')).toBe(5);
    expect(optimizer.stateNames()).toEqual(['a']);
    expect(Array.from(late.dataSync())).toEqual([0.5, -0.5, 0]); // no gradient: untouched, like grad=None in torch
    const gl = tf.tensor1d([2, -3, 0]);
    optimizer.applyGradients(
      vars,
      new Map([
        ['a', ga],
        ['late', gl],
      ]),
      0.01,
    );
    expect(optimizer.stepOf('late')).toBe(1);
    // At t = 1, m̂ = g and v̂ = g², so the first update is −lr·g/(|g| + eps) ≈ −lr·sign(g): the
    // bias correction of a late variable starts from its own t, not the global step (6).
    const expected = [0.5 - 0.01, -0.5 + 0.01, 0];
    Array.from(late.dataSync()).forEach((x, j) => expect(x).toBeCloseTo(expected[j] as number, 7));
    tf.dispose([a, late, ga, gl]);
    optimizer.dispose();
  });

  it('exports and imports state exactly, so a restored optimizer continues bit for bit', () => {
    const { p0, grads, lrs } = randomCase(5, 16, 8);
    const straight = runTfAdam(p0, grads, lrs, { type: 'adamw' });

    const first = new AdamOptimizer({ type: 'adamw' });
    const p = makeVariable(tf.tensor1d(p0));
    const vars = new Map([['p', p]]);
    const step = (opt: AdamOptimizer, i: number) => {
      const g = tf.tensor1d(grads[i] as number[]);
      opt.applyGradients(vars, new Map([['p', g]]), lrs[i] as number);
      g.dispose();
    };
    for (let i = 0; i < 4; i++) step(first, i);
    const saved = JSON.parse(JSON.stringify(first.exportState(), (_, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v)));
    first.dispose();
    const second = new AdamOptimizer({ type: 'adamw' });
    for (const s of Object.values(saved.variables) as { expAvg: { data: number[] }; expAvgSq: { data: number[] } }[]) {
      Object.assign(s.expAvg, { data: Float32Array.from(s.expAvg.data) });
      Object.assign(s.expAvgSq, { data: Float32Array.from(s.expAvgSq.data) });
    }
    second.importState(saved);
    expect(second.stepOf('p')).toBe(4);
    for (let i = 4; i < 8; i++) step(second, i);
    expect(Array.from(p.dataSync())).toEqual(straight[7]);
    second.dispose();
    p.dispose();
  });

  it('refuses bad input with typed errors', () => {
    expect(() => new AdamOptimizer({ type: 'adam', beta1: 1 })).toThrow(ConfigError);
    expect(() => new AdamOptimizer({ type: 'sgd' as 'adam' })).toThrow(/optimizer.type/);
    const optimizer = new AdamOptimizer({ type: 'adam' });
    const p = makeVariable(tf.zeros([2, 3]));
    const g = tf.zeros([3, 2]);
    expect(() => optimizer.applyGradients(new Map([['w', p]]), new Map([['w', g]]), 0.1)).toThrow(ShapeError);
    expect(() => optimizer.applyGradients(new Map(), new Map([['w', g]]), 0.1)).toThrow(/tensor w/);
    expect(() => optimizer.applyGradients(new Map([['w', p]]), new Map(), Number.NaN)).toThrow(ConfigError);
    tf.dispose([p, g]);
    optimizer.dispose();
  });
});
