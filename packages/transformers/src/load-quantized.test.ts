import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { float16BitsToNumber } from '@tsd-peft/core';
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM } from './load-causal-lm.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { maxAbsDiff, referenceIds, referenceTensor, storiesDir } from './onnx/onnx-fixtures.test-helper.js';
import { OPTIMUM_CASES, optimumPath, optimumRef } from './onnx/optimum-fixtures.test-helper.js';
import { readOnnxWeightsFromBytes } from './onnx/read-weights.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;
beforeAll(useWasmBackend);

async function tjsLogits(dir: string, dtype: 'q4' | 'q8', ids: readonly number[]): Promise<Float32Array> {
  const model = await AutoModelForCausalLM.from_pretrained(dir, { dtype });
  const t = (v: readonly number[]): Tensor => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const out = ((await model({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) })) as { logits: Tensor }).logits;
  await model.dispose();
  const data = out.data as ArrayLike<number>;
  return data instanceof Uint16Array ? Float32Array.from(data, float16BitsToNumber) : Float32Array.from(data);
}

describe('quantized variants as a frozen base (dequantized weights)', () => {
  it('the q4 file of stories260K: the replica runs on its dequantized 4-bit projections, closer to HF than the q4 variant itself', async () => {
    const ids = referenceIds('input2');
    const model = await loadCausalLM(storiesDir(), { onnxFile: 'onnx/model_q4.onnx' });
    const logits = model.forward({ inputIds: [ids] });
    const ours = logits.dataSync() as Float32Array;
    logits.dispose();
    model.dispose();
    const hf = referenceTensor(['logits.safetensors'], 'input2');
    // The variant also quantizes the tied head (a MatMulNBits copy of the embedding); the replica ties the head to the
    // fp32 embedding the q4 file still gathers from, so it sits between HF and onnxruntime's q4 run.
    const variant = await tjsLogits(storiesDir(), 'q4', ids);
    expect(maxAbsDiff(ours, hf)).toBeGreaterThan(0.1); // it did read the 4-bit weights
    expect(maxAbsDiff(ours, hf)).toBeLessThan(maxAbsDiff(variant, hf));
  });

  it('the q8 file of stories260K: closer to HF than the q8 variant itself (no activation quantization in the replica)', async () => {
    const ids = referenceIds('input2');
    const model = await loadCausalLM(storiesDir(), { onnxFile: 'onnx/model_quantized.onnx' });
    const logits = model.forward({ inputIds: [ids] });
    const err = maxAbsDiff(logits.dataSync(), referenceTensor(['logits.safetensors'], 'input2'));
    logits.dispose();
    model.dispose();
    expect(err).toBeGreaterThan(1e-3); // it did read the quantized weights
    expect(err).toBeLessThan(1.12); // the q8 variant's own error (README)
  });

  it.each(OPTIMUM_CASES)('the q8 and q4 files of the Optimum export %s load (tied head via DequantizeLinear, GPT-2 Gemm bias after MatMulInteger)', async (name) => {
    for (const file of ['model_quantized.onnx', 'model_q4.onnx']) {
      const model = await loadCausalLM(optimumPath(name, 'onnx'), { onnxFile: `onnx/${file}` });
      const logits = model.forward({ inputIds: [optimumRef(name).ids] });
      expect(Array.from(logits.dataSync()).every(Number.isFinite), file).toBe(true);
      logits.dispose();
      model.dispose();
    }
  });

  it('without dequantize the reader still refuses a quantized file, naming the node', () => {
    const file = join(storiesDir(), 'onnx', 'model_q4.onnx');
    expect(() => readOnnxWeightsFromBytes(new Uint8Array(readFileSync(file)), { file })).toThrow(/MatMulNBits: the model is quantized/);
  });
});
