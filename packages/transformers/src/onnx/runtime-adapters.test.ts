import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, OnnxError, type LoraFactors } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { Tensor, env, pipeline, type TextGenerationPipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdapterSwitcher, type RunnableSession } from './adapter-switcher.js';
import { maxAbsDiff, ort, referenceIds, referenceTensor, STORIES_MODULES, storiesDir, storiesLogits, storiesModelBytes, trajectoryPlainLora } from './onnx-fixtures.test-helper.js';
import { patchOnnxModel } from './patch.js';
import { concatBytes } from './protobuf-wire.js';
import { readOnnxWeightsFromBytes } from './read-weights.js';
import { loadRuntimeAdapterManifest, writeRuntimeAdapterModel } from './runtime-adapters-folder.js';
import { rewriteForRuntimeAdapters, type RuntimeAdapterManifest } from './runtime-adapters.js';

env.allowRemoteModels = false;

async function tjsLogits(gen: TextGenerationPipeline, ids: readonly number[]): Promise<Float32Array> {
  const n = ids.length;
  const out = (await gen.model({
    input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, n]),
    attention_mask: new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
  })) as { logits: Tensor };
  return out.logits.data as Float32Array;
}

describe('runtime adapters on stories260K', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-runtime-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const base = storiesModelBytes();
  let lora: Map<string, LoraFactors>;
  let rslora: Map<string, LoraFactors>;
  const trained = trajectoryPlainLora();
  let dir: string;
  let manifest: RuntimeAdapterManifest;
  /** Logits of the merged exports (the reference for the unmerged runtime path) and of the base model. */
  const merged = new Map<string, Float32Array>();
  beforeAll(async () => {
    lora = readPeftAdapterFolder(fixturePath('reference', 'peft-lora')).modules;
    rslora = readPeftAdapterFolder(fixturePath('reference', 'peft-rslora')).modules;
    dir = join(tmp, 'runtime');
    manifest = (await writeRuntimeAdapterModel({ base: storiesDir(), out: dir })).manifest;
    for (const [name, adapter] of [
      ['lora', lora],
      ['rslora', rslora],
      ['trained', trained],
      ['none', null],
    ] as const) {
      const bytes = adapter === null ? base : concatBytes(patchOnnxModel(base, adapter).chunks);
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
      for (const input of ['input1', 'input2'] as const) merged.set(`${name}.${input}`, await storiesLogits(session, referenceIds(input)));
    }
  });

  it("rewrites every linear module ('all-linear' skips lm_head) and keeps the weights readable", async () => {
    expect(manifest.slots.map((s) => s.module).sort()).toEqual([...STORIES_MODULES].sort());
    expect(await loadRuntimeAdapterManifest(dir)).toEqual(manifest);
    const q = manifest.slots.find((s) => s.module === 'model.layers.0.mlp.down_proj');
    expect([q?.inFeatures, q?.outFeatures]).toEqual([172, 64]);
    // The adapter MatMuls read graph inputs, not weights, so the weight reader sees the base weights only.
    const rewritten = concatBytes(rewriteForRuntimeAdapters(base, STORIES_MODULES).chunks);
    const a = readOnnxWeightsFromBytes(rewritten);
    const b = readOnnxWeightsFromBytes(base);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  });

  it('switching peft-lora / peft-rslora / a trained LoRA / none in one transformers.js session gives each merged export', async () => {
    const gen = (await pipeline('text-generation', dir, { dtype: 'fp32' })) as TextGenerationPipeline;
    const switcher = createAdapterSwitcher(gen.model as unknown as { sessions: Record<string, unknown> }, manifest);
    switcher.register('lora', lora);
    switcher.register('rslora', { modules: rslora });
    switcher.register('trained', trained);
    const got = new Map<string, Float32Array>();
    for (const name of ['lora', 'rslora', 'trained', null] as const) {
      switcher.use(name);
      expect(switcher.active).toBe(name);
      for (const input of ['input1', 'input2'] as const) got.set(`${name ?? 'none'}.${input}`, await tjsLogits(gen, referenceIds(input)));
    }
    const diff = (key: string): number => maxAbsDiff(got.get(key)!, merged.get(key)!);
    // The unmerged path x@W + (x@A)@B and the merged x@(W + BA) round differently in fp32.
    // ≤ 1e-4 where that rounding is not amplified: the mild trained adapter on both inputs,
    // and the 5-token input1 of the PEFT fixtures.
    for (const key of ['trained.input1', 'trained.input2', 'lora.input1', 'rslora.input1']) expect(diff(key), key).toBeLessThan(1e-4);
    // On the 64-token input2 the PEFT fixtures amplify it: PEFT's own merged vs unmerged logits
    // differ by 3.7e-4 (LoRA) and 9.2e-4 (rsLoRA) there (reference/README.md), so the bound is
    // the PEFT tolerance 2e-3, against our merged export and against PEFT's unmerged logits.
    for (const name of ['lora', 'rslora'] as const) {
      expect(diff(`${name}.input2`), name).toBeLessThan(2e-3);
      expect(maxAbsDiff(got.get(`${name}.input2`)!, referenceTensor([`peft-${name}`, 'logits.safetensors'], 'unmerged.input2')), name).toBeLessThan(2e-3);
    }
    // The trained adapter also matches torch's logits for that run (ONNX tolerance 1e-4).
    expect(maxAbsDiff(got.get('trained.input2')!, referenceTensor(['lora-dash-trajectory', 'final_logits.safetensors'], 'lora.input2'))).toBeLessThan(1e-4);
    // With no adapter every slot has rank 0, which adds exact zeros: bitwise the base graph's logits.
    expect(diff('none.input1')).toBe(0);
    expect(diff('none.input2')).toBe(0);
    // Generation (KV cache, one run per token) sees the adapter on every step.
    switcher.use('lora');
    const [withLora] = (await gen('Once upon a time', { max_new_tokens: 6, do_sample: false })) as Array<{ generated_text: string }>;
    switcher.use(null);
    const [plain] = (await gen('Once upon a time', { max_new_tokens: 6, do_sample: false })) as Array<{ generated_text: string }>;
    expect(withLora?.generated_text).not.toBe(plain?.generated_text);
    // detach() restores the session: its inputs include the adapter inputs again.
    const session = (gen.model as unknown as { sessions: { model: RunnableSession } }).sessions.model;
    expect(session.inputNames.length).toBe(13);
    switcher.detach();
    expect(session.inputNames.length).toBe(13 + 2 * 35);
  });

  it('works on a bare onnxruntime session, with an adapter covering only some slots', async () => {
    const rewritten = concatBytes(rewriteForRuntimeAdapters(base, STORIES_MODULES).chunks);
    const session = await ort.InferenceSession.create(rewritten, { intraOpNumThreads: 1 });
    const switcher = createAdapterSwitcher(session as unknown as RunnableSession, { format: 'tsd-peft-runtime-adapters', version: 1, slots: manifest.slots });
    const q0 = 'model.layers.0.self_attn.q_proj';
    const partial = new Map([[q0, lora.get(q0)!]]);
    switcher.register('q0', partial);
    switcher.use('q0');
    const got = await storiesLogits(session as never, referenceIds('input1'));
    const want = await storiesLogits(await ort.InferenceSession.create(concatBytes(patchOnnxModel(base, partial).chunks), { intraOpNumThreads: 1 }), referenceIds('input1'));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    expect(switcher.currentFeeds().get(`runtime_lora.${q0}.a`)?.dims).toEqual([64, 4]);
    expect(switcher.currentFeeds().get('runtime_lora.model.layers.1.self_attn.q_proj.a')?.dims).toEqual([64, 0]);
  });

  it('refuses adapters outside the rewrite, unknown names, and rewriting a module twice', () => {
    const fake = { inputNames: ['input_ids'], run: async () => ({}) };
    expect(() => createAdapterSwitcher(fake, manifest)).toThrow(/no session has the runtime adapter inputs/);
    const rewritten = rewriteForRuntimeAdapters(base, ['model.layers.0.self_attn.q_proj']);
    const one = { inputNames: ['input_ids', 'runtime_lora.model.layers.0.self_attn.q_proj.a', 'runtime_lora.model.layers.0.self_attn.q_proj.b'], run: async () => ({}) };
    const switcher = createAdapterSwitcher(one, rewritten.manifest);
    expect(() => switcher.register('all', lora)).toThrow(ConfigError);
    expect(() => switcher.register('all', lora)).toThrow(/targets model\.layers\.\d\.\w+\.\w+_proj, which the runtime rewrite did not cover/);
    expect(() => switcher.use('missing')).toThrow(/no adapter registered as "missing"/);
    expect(() => rewriteForRuntimeAdapters(concatBytes(rewritten.chunks), ['model.layers.0.self_attn.q_proj'])).toThrow(OnnxError);
    expect(() => rewriteForRuntimeAdapters(base, [])).toThrow(OnnxError);
  });
});
