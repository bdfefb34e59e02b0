import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipByGlobalNorm, gradientNorms } from './clip.js';
import { useBackend } from './test-fixtures/backend.js';

/** torch.nn.utils.clip_grad_norm_ in float64: total = ‖(‖g₁‖, …)‖, coef = min(1, max/(total + 1e-6)). */
function referenceClip(grads: number[][], maxNorm: number): { grads: number[][]; total: number } {
  const norms = grads.map((g) => Math.hypot(...g));
  const total = Math.hypot(...norms);
  const coef = Math.min(1, maxNorm / (total + 1e-6));
  return { grads: grads.map((g) => g.map((x) => x * coef)), total };
}

describe('clipByGlobalNorm', () => {
  beforeAll(() => useBackend('cpu'));

  const raw = [
    [3, 4], // ‖·‖ = 5
    [12, 0, 0], // ‖·‖ = 12 → total 13
  ];
  const asMap = () => new Map(raw.map((g, i) => [`g${i}`, tf.tensor1d(g)]));

  it('scales every gradient by max/(total + 1e-6) when over the limit', () => {
    const before = tf.memory().numTensors;
    const grads = asMap();
    const { grads: clipped, totalNorm } = clipByGlobalNorm(grads, 6.5);
    const ref = referenceClip(raw, 6.5);
    expect(totalNorm).toBeCloseTo(13, 5); // fp32 of an exact 13
    // fp32 relative rounding ~6e-8 per op over ~5 ops: 1e-6 relative on values ≤ 6.
    [...clipped.values()].forEach((t, i) => Array.from(t.dataSync()).forEach((x, j) => expect(Math.abs(x - (ref.grads[i]?.[j] as number))).toBeLessThan(1e-6)));
    const newNorm = Math.hypot(...[...clipped.values()].flatMap((t) => Array.from(t.dataSync())));
    expect(newNorm).toBeCloseTo(6.5, 4); // the 1e-6 in the denominator lowers it by ~5e-7
    tf.dispose([...grads.values(), ...clipped.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves gradients bit-identical under the limit (torch multiplies by exactly 1)', () => {
    const grads = asMap();
    const { grads: clipped, totalNorm } = clipByGlobalNorm(grads, 100);
    expect(totalNorm).toBeCloseTo(13, 5);
    expect([...clipped.values()].map((t) => Array.from(t.dataSync()))).toEqual(raw);
    tf.dispose([...grads.values(), ...clipped.values()]);
  });

  it('keeps zero gradients at zero and rejects a non-positive limit', () => {
    const grads = new Map([['z', tf.zeros([4])]]);
    const { grads: clipped, totalNorm } = clipByGlobalNorm(grads, 1);
    expect(totalNorm).toBe(0);
    expect(Array.from(clipped.get('z')?.dataSync() ?? [])).toEqual([0, 0, 0, 0]);
    expect(() => clipByGlobalNorm(grads, 0)).toThrow(ConfigError);
    tf.dispose([...grads.values(), ...clipped.values()]);
  });
});

describe.each(['cpu', 'wasm'] as const)('gradientNorms on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('norms same-shaped gradients together, to the bits of one norm per tensor, in map order', () => {
    const before = tf.memory().numTensors;
    const shapes = [[7, 33], [5], [7, 33], [2, 3, 4], [5], [7, 33], []];
    const grads = new Map(
      shapes.map((shape, i) => [
        `g${i}`,
        tf.tensor(
          Float32Array.from({ length: tf.util.sizeFromShape(shape) }, (_, j) => Math.sin(i * 131 + j) * 10 ** (j % 4)),
          shape,
        ),
      ]),
    );
    const grouped = gradientNorms(grads);
    const alone = [...grads.values()].map((g) => tf.tidy(() => tf.sqrt(tf.sum(tf.square(g)))));
    expect(Array.from(grouped.dataSync())).toEqual(alone.map((t) => t.dataSync()[0] as number));
    tf.dispose([grouped, ...alone, ...grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('launches the same kernels for 3 or 30 same-shaped gradients', async () => {
    const kernelsFor = async (n: number) => {
      const grads = new Map(Array.from({ length: n }, (_, i) => [`g${i}`, tf.fill([16, 4], i)] as const));
      const profile = await tf.profile(() => tf.dispose(gradientNorms(grads)));
      tf.dispose([...grads.values()]);
      return profile.kernels.length;
    };
    expect(await kernelsFor(30)).toBe(await kernelsFor(3));
  });
});
