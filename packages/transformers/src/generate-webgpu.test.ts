/**
 * Greedy generation on tfjs's `webgpu` backend. `generate` reads each step's
 * logits with `await data()`: `dataSync()` needs an OffscreenCanvas read-back
 * there, which Node lacks. In CI the device is Dawn on Mesa's llvmpipe (a real
 * WebGPU implementation without a GPU), so this runs everywhere, never skipped.
 */
import { readFileSync } from 'node:fs';
import { fixturePath } from '@tsd-peft/core/testing';
import { setupBackend, webGpuDeviceErrors } from '@tsd-peft/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCausalLM } from './load-causal-lm.js';

interface Generation {
  prompt_ids: number[];
  hf_generate_ids: number[];
}

/** A few new tokens keep this short on llvmpipe (one full forward per token). */
const NEW_TOKENS = 8;

afterAll(async () => {
  await setupBackend('wasm');
});

describe('generate on webgpu', () => {
  it('reproduces the first greedy tokens of generation.json (HF transformers)', async () => {
    expect(await setupBackend('webgpu')).toBe('webgpu');
    const gen = JSON.parse(readFileSync(fixturePath('reference', 'generation.json'), 'utf8')) as Generation;
    const model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'), { tokenizer: false });
    try {
      const out = await model.generate(gen.prompt_ids, { maxNewTokens: NEW_TOKENS });
      // Greedy ids are discrete: fp32 summation-order differences between WGSL and
      // torch kernels (~1e-6) do not flip an argmax on this prefix (checked against the reference).
      expect(out.sequences[0]).toEqual(gen.hf_generate_ids.slice(0, gen.prompt_ids.length + NEW_TOKENS));
      expect(webGpuDeviceErrors()).toEqual([]);
    } finally {
      model.dispose();
    }
  });
});
