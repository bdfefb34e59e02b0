import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, Tensor, env, type PreTrainedModel } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { exportForTransformersJs } from './export-transformers-js.js';
import { createAdapterSwitcher } from './onnx/adapter-switcher.js';
import { writeRuntimeAdapterModel } from './onnx/runtime-adapters-folder.js';
import { maxAbsDiff } from './onnx/onnx-fixtures.test-helper.js';
import { OPTIMUM_CASES, optimumPath, optimumRef } from './onnx/optimum-fixtures.test-helper.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const tmp = mkdtempSync(join(tmpdir(), 'tsd-export-optimum-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ids64 = (ids: readonly number[]): Tensor => new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);

/** Logits of one sequence through a transformers.js model (it feeds the empty past and position ids itself). */
async function tjsLogits(model: PreTrainedModel, ids: readonly number[]): Promise<Float32Array> {
  const out = (await model({ input_ids: ids64(ids), attention_mask: ids64(ids.map(() => 1)) })) as { logits: Tensor };
  return Float32Array.from(out.logits.data as Float32Array);
}

/** Greedy continuation through transformers.js's generate (KV cache: one token per step after the prompt). */
async function tjsGreedy(model: PreTrainedModel, ids: readonly number[], n: number): Promise<number[]> {
  const out = (await model.generate({ input_ids: ids64(ids), attention_mask: ids64(ids.map(() => 1)), max_new_tokens: n, min_new_tokens: n, do_sample: false })) as Tensor;
  return Array.from(out.data as BigInt64Array, Number).slice(ids.length);
}

describe.each(OPTIMUM_CASES)('exportForTransformersJs into the Optimum export %s', (name) => {
  it('loads with plain AutoModelForCausalLM (fp32), matches PEFT merged logits within 2e-3 and HF greedy ids through the KV cache', async () => {
    const ref = optimumRef(name);
    const out = join(tmp, name);
    const result = await exportForTransformersJs({ base: optimumPath(name, 'onnx'), adapter: optimumPath(name, 'adapter'), out, modelFiles: ['model.onnx'] });
    const merged = result.patched['model.onnx'] ?? [];
    expect(merged.length).toBe(name === 'gpt2' ? 2 : 4); // q_proj/v_proj (c_attn for GPT-2) of 2 layers
    if (name === 'gpt2') expect(merged.every((m) => m.node.endsWith('/Gemm') && m.layout === 'in_out')).toBe(true);
    const model = await AutoModelForCausalLM.from_pretrained(out, { dtype: 'fp32' });
    try {
      // 2e-3: the PEFT fixtures' tolerance for merged logits (reference/README.md); PEFT's own merged-vs-unmerged gap is ~2e-5 here.
      const err = maxAbsDiff(await tjsLogits(model, ref.ids), ref.merged);
      console.info(`${name}: transformers.js fp32 export vs PEFT merged logits ${err.toExponential(2)}`);
      expect(err).toBeLessThan(2e-3);
      expect(await tjsGreedy(model, ref.ids, ref.mergedGreedy.length)).toEqual(ref.mergedGreedy);
      expect(ref.mergedGreedy).not.toEqual(ref.baseGreedy);
    } finally {
      await model.dispose();
    }
  });
});

describe.each(OPTIMUM_CASES)('runtime adapters on the Optimum export %s', (name) => {
  it('all-linear slots (Gemm for GPT-2); the Python PEFT adapter switched in gives PEFT unmerged logits within 2e-3, none gives the base', async () => {
    const ref = optimumRef(name);
    const out = join(tmp, `${name}-rt`);
    const { manifest } = await writeRuntimeAdapterModel({ base: optimumPath(name, 'onnx'), out });
    expect(manifest.slots.length).toBe(name === 'gpt2' ? 8 : 14); // 2 layers × (4 Conv1D | 7 projections)
    const model = await AutoModelForCausalLM.from_pretrained(out, { dtype: 'fp32' });
    try {
      const switcher = createAdapterSwitcher(model as unknown as Parameters<typeof createAdapterSwitcher>[0], manifest);
      switcher.register('peft', readPeftAdapterFolder(optimumPath(name, 'adapter')));
      switcher.use('peft');
      expect(maxAbsDiff(await tjsLogits(model, ref.ids), ref.unmerged)).toBeLessThan(2e-3);
      switcher.use(null);
      expect(maxAbsDiff(await tjsLogits(model, ref.ids), ref.base)).toBeLessThan(1e-4);
      switcher.detach();
    } finally {
      await model.dispose();
    }
  });
});
