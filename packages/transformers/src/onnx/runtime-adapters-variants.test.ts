import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { float16BitsToNumber } from '@tsd-peft/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createAdapterSwitcher, type RunnableSession } from './adapter-switcher.js';
import { maxAbsDiff, ort, referenceIds, STORIES_MODULES, storiesDir, trajectoryPlainLora, type OrtSession, type OrtTensor } from './onnx-fixtures.test-helper.js';
import { patchOnnxModel } from './patch.js';
import { concatBytes } from './protobuf-wire.js';
import { writeRuntimeAdapterModel } from './runtime-adapters-folder.js';

/** Feeds of one sequence with an empty past in the variant's float type (fp16 variants take fp16 pasts). */
function feeds(ids: readonly number[], half: boolean): Record<string, unknown> {
  const n = ids.length;
  const i64 = (v: number[]): unknown => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, n]);
  const f: Record<string, unknown> = { input_ids: i64([...ids]), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)) };
  for (let l = 0; l < 5; l++) {
    for (const kv of ['key', 'value']) {
      f[`past_key_values.${l}.${kv}`] = half
        ? new (ort.Tensor as unknown as new (t: string, d: Uint16Array, dims: number[]) => unknown)('float16', new Uint16Array(0), [1, 4, 0, 8])
        : new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
    }
  }
  return f;
}

async function logits(session: OrtSession, ids: readonly number[], half: boolean): Promise<Float32Array> {
  const out = (await session.run(feeds(ids, half))).logits as OrtTensor;
  const data = out.data as unknown;
  return data instanceof Uint16Array ? Float32Array.from(data, float16BitsToNumber) : Float32Array.from(data as Float32Array);
}

describe.each([
  ['model_fp16.onnx', true],
  ['model_quantized.onnx', false],
  ['model_q4.onnx', false],
] as const)('runtime adapters on the stories260K variant %s', (file, half) => {
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-runtime-variant-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('rewrites all 35 modules; switching to an adapter gives the merged export’s logits, and none the base’s', async () => {
    const out = join(tmp, 'rt');
    const { manifest } = await writeRuntimeAdapterModel({ base: storiesDir(), out, modelFile: file });
    expect(manifest.slots.map((s) => s.module).sort()).toEqual([...STORIES_MODULES].sort());
    expect(manifest.slots.every((s) => s.dtype === (half ? 'float16' : undefined))).toBe(true);
    const ids = referenceIds('input2');
    const opts = { intraOpNumThreads: 1 };
    const session = await ort.InferenceSession.create(join(out, 'onnx', file), opts);
    const trained = trajectoryPlainLora();
    const switcher = createAdapterSwitcher(session as unknown as RunnableSession, manifest);
    switcher.register('trained', trained);
    const baseBytes = new Uint8Array(readFileSync(join(storiesDir(), 'onnx', file)));
    const baseLogits = await logits(await ort.InferenceSession.create(baseBytes, opts), ids, half);
    const exported = await logits(await ort.InferenceSession.create(concatBytes(patchOnnxModel(baseBytes, trained).chunks), opts), ids, half);
    switcher.use(null);
    // Rank 0 adds an empty product: the base variant's logits.
    expect(maxAbsDiff(await logits(session, ids, half), baseLogits)).toBeLessThan(1e-5);
    switcher.use('trained');
    const runtime = await logits(session, ids, half);
    // q8/q4: the export's side branch is the same float math (1e-4); fp16: the export merges into fp16 weights
    // instead, so the two differ by fp16 rounding (the variant's own base error is 5.1e-2).
    expect(maxAbsDiff(runtime, exported)).toBeLessThan(half ? 5e-2 : 1e-4);
    expect(maxAbsDiff(runtime, baseLogits)).toBeGreaterThan(0.1);
    switcher.detach();
  });
});
