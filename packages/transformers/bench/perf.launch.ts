/**
 * LoRA-Dash's launch at real shapes (issue 19, item 5): the launch needs the
 * exact SVD of every target weight (`ctx.svd`, core's `svd`), so its cost is
 * one SVD per q and v weight of every layer. Times one SVD of a random
 * matrix of each distinct target shape (the layers' weights share shapes and
 * an SVD's cost depends on the shape, not the values) and prints one JSON
 * line: per shape its seconds and how many weights have it, and the total.
 * Also times the content hash an SvdCache lookup pays, for the largest shape.
 * Arguments: { shape } (perf.shapes.ts); bundled by perf.scale.mjs.
 */
import { hashMatrix, Rng, svd } from '@tsd-peft/core';
import { REAL_SHAPES, type ShapeName } from './perf.shapes.js';

const { shape } = JSON.parse(process.argv[2] ?? '{}') as { shape: ShapeName };
const c = REAL_SHAPES[shape];
const headDim = c.hidden_size / c.num_attention_heads;
const targets = new Map<string, { rows: number; cols: number; count: number }>();
for (const rows of [c.num_attention_heads * headDim, c.num_key_value_heads * headDim]) {
  const key = `${rows}x${c.hidden_size}`;
  const entry = targets.get(key) ?? { rows, cols: c.hidden_size, count: 0 };
  entry.count += c.num_hidden_layers;
  targets.set(key, entry);
}
const rng = Rng.fromSeed(7);
const shapes = [...targets.values()].map(({ rows, cols, count }) => {
  const data = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.02);
  const t0 = performance.now();
  const result = svd({ rows, cols, data });
  const seconds = (performance.now() - t0) / 1000;
  const h0 = performance.now();
  hashMatrix({ rows, cols, data });
  const hashSeconds = (performance.now() - h0) / 1000;
  return { rows, cols, count, seconds, hashSeconds, rank: result.S.length };
});
const totalSeconds = shapes.reduce((sum, s) => sum + s.seconds * s.count, 0);
console.log(JSON.stringify({ shape, shapes, totalSeconds }));
