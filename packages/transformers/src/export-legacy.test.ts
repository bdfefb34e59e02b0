/**
 * The @xenova/transformers 2.x layout (onnx-legacy/): an optimum 1.x merged decoder whose `If` branches read
 * shared top-level weights, fp32 and q8. Checked with @xenova/transformers 2.17.2 itself, installed once into
 * a consumer folder outside the repo (TSD_XENOVA_CONSUMER, default <tmpdir>/tsd-peft-xenova-2.17.2) from the
 * npm registry, with sharp overridden to ^0.34.0 as reference/README.md says (text models never call sharp).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportForTransformersJs } from './export-transformers-js.js';
import { loadCausalLM } from './load-causal-lm.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { maxAbsDiff } from './onnx/onnx-fixtures.test-helper.js';
import { optimumRef } from './onnx/optimum-fixtures.test-helper.js';

const legacy = (...p: string[]): string => fixturePath('reference', 'onnx-legacy', 'llama-gqa-tied', ...p);
const consumer = process.env['TSD_XENOVA_CONSUMER'] ?? join(tmpdir(), 'tsd-peft-xenova-2.17.2');

/** Logits of ref.json's ids and 10 greedy ids through the KV cache, from @xenova/transformers 2.17.2 in the consumer. */
const CHECK = `import { AutoModelForCausalLM, Tensor, env } from '@xenova/transformers';
env.allowRemoteModels = false; env.allowLocalModels = true; env.localModelPath = '/';
const [dir, q, idsJson] = process.argv.slice(2);
const ids = JSON.parse(idsJson);
const model = await AutoModelForCausalLM.from_pretrained(dir, { quantized: q === 'q8' });
const t = (v) => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
const out = await model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) });
const gen = await model.generate(t(ids), { max_new_tokens: 10, min_new_tokens: 10, do_sample: false });
process.stdout.write(JSON.stringify({ logits: Array.from(out.logits.data), greedy: Array.from(gen[0], Number).slice(ids.length) }));
`;

function ensureConsumer(): void {
  const pkg = join(consumer, 'node_modules', '@xenova', 'transformers', 'package.json');
  if (!existsSync(pkg) || (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version !== '2.17.2') {
    mkdirSync(consumer, { recursive: true });
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'xenova-consumer', private: true, type: 'module', dependencies: { '@xenova/transformers': '2.17.2' }, overrides: { sharp: '^0.34.0' } }),
    );
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: consumer, stdio: 'pipe', timeout: 280_000 });
    } catch (cause) {
      throw new Error(`installing @xenova/transformers 2.17.2 into ${consumer} failed (needs the npm registry once, or set TSD_XENOVA_CONSUMER to a folder that has it)`, { cause });
    }
  }
  writeFileSync(join(consumer, 'check.mjs'), CHECK);
}

function xenova(dir: string, dtype: 'fp32' | 'q8', ids: readonly number[]): { logits: Float32Array; greedy: number[] } {
  const out = execFileSync(process.execPath, ['check.mjs', dir, dtype, JSON.stringify(ids)], { cwd: consumer, stdio: ['ignore', 'pipe', 'ignore'], timeout: 110_000 });
  const r = JSON.parse(out.toString('utf8')) as { logits: number[]; greedy: number[] };
  return { logits: Float32Array.from(r.logits), greedy: r.greedy };
}

describe('the @xenova/transformers 2.x merged-decoder layout (onnx-legacy/llama-gqa-tied)', () => {
  const ref = optimumRef('llama-gqa-tied'); // same model, adapter and references (README)
  const tmp = mkdtempSync(join(tmpdir(), 'tsd-legacy-'));
  const out = join(tmp, 'merged');
  let patched: Record<string, Array<{ node: string; dataType: string; merge: string }>>;
  beforeAll(async () => {
    await useWasmBackend();
    ensureConsumer();
    patched = (await exportForTransformersJs({ base: legacy(), adapter: legacy('adapter'), out })).patched;
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('loads as a training base: the If branches’ weights give PyTorch base logits within 1e-4', async () => {
    const model = await loadCausalLM(legacy());
    try {
      expect(model.source.files[0]).toMatch(/decoder_model_merged\.onnx$/);
      const logits = model.forward({ inputIds: [ref.ids] });
      expect(maxAbsDiff(logits.dataSync(), ref.base)).toBeLessThan(1e-4);
      logits.dispose();
    } finally {
      model.dispose();
    }
  });

  it('export merges the shared weights once in both files (fp32 in place, q8 requantized)', () => {
    expect(Object.keys(patched).sort()).toEqual(['decoder_model_merged.onnx', 'decoder_model_merged_quantized.onnx']);
    expect(patched['decoder_model_merged.onnx']?.map((m) => `${m.dataType} ${m.merge}`)).toEqual(Array(4).fill('FLOAT weight'));
    expect(patched['decoder_model_merged_quantized.onnx']?.map((m) => `${m.dataType} ${m.merge}`)).toEqual(Array(4).fill('UINT8 weight'));
  });

  it('@xenova/transformers 2.17.2 loads the export: PEFT merged logits within 2e-3 and HF greedy ids through the KV cache', () => {
    const merged = xenova(out, 'fp32', ref.ids);
    expect(maxAbsDiff(merged.logits, ref.merged)).toBeLessThan(2e-3);
    expect(merged.greedy).toEqual(ref.mergedGreedy);
  });

  it('and its default q8 file is merged too: error vs PEFT merged ≤ 1.5× the base q8 file’s own error vs PyTorch', () => {
    const mergedQ8 = xenova(out, 'q8', ref.ids);
    const baseQ8 = xenova(legacy(), 'q8', ref.ids);
    // Random weights make q8 errors large on this model (README); the merge must not add to them materially.
    expect(maxAbsDiff(mergedQ8.logits, ref.merged)).toBeLessThanOrEqual(1.5 * maxAbsDiff(baseQ8.logits, ref.base));
    expect(maxAbsDiff(mergedQ8.logits, baseQ8.logits)).toBeGreaterThan(0.1); // not a stale copy
  });
});
