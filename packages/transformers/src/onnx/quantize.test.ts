import { readFileSync } from 'node:fs';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { indexGraph, locateModuleWeight } from './locate-weight.js';
import { parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { STORIES_MODULES } from './onnx-fixtures.test-helper.js';
import { OPTIMUM_CASES, optimumPath } from './optimum-fixtures.test-helper.js';
import { dequantizeAffine8, dequantizeBlockwise4, quantizeAffine8, quantizeBlockwise4 } from './quantize.js';
import { locateQuantizedLinear } from './quantized-linear.js';
import { readTensorBytes, readTensorFloat32 } from './tensor-data.js';

const load = (file: string): OnnxModel => parseOnnxModel(new Uint8Array(readFileSync(file)), file);

/** fp32 weights [in, out] of `modules` in a model.onnx, and the q8 / q4 variants beside it. */
function variants(dir: string): { fp32: OnnxModel; q8: OnnxModel; q4: OnnxModel } {
  return { fp32: load(`${dir}/model.onnx`), q8: load(`${dir}/model_quantized.onnx`), q4: load(`${dir}/model_q4.onnx`) };
}

const CASES: Array<[string, string, readonly string[]]> = [
  ['stories260K', fixturePath('reference', 'onnx', 'stories260K', 'onnx'), STORIES_MODULES],
  ...OPTIMUM_CASES.filter((c) => c !== 'gpt2').map((c): [string, string, readonly string[]] => [
    c,
    optimumPath(c, 'onnx', 'onnx'),
    [0, 1].flatMap((l) => ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'].map((m) => `model.layers.${l}.${m}`)),
  ]),
];

describe.each(CASES)('the quantizers reproduce onnxruntime on %s', (_name, dir, modules) => {
  const { fp32, q8, q4 } = variants(dir);
  const i32 = indexGraph(fp32);
  const i8 = indexGraph(q8);
  const i4 = indexGraph(q4);

  it('quantize_dynamic (uint8, per tensor): codes, scale and zero point equal the stored ones', () => {
    let bytes = 0;
    for (const m of modules) {
      const w = locateModuleWeight(fp32, i32, m);
      const q = locateQuantizedLinear(q8, i8, m);
      if (q?.kind !== 'int8') throw new Error(`${m}: no MatMulInteger`);
      const got = quantizeAffine8(readTensorFloat32(fp32, w.tensor), w.inFeatures, w.outFeatures, false, false);
      expect(got.scales[0], m).toBe(readTensorFloat32(q8, q.scale)[0]);
      expect(got.zeroPoints[0], m).toBe(readTensorBytes(q8, q.zeroPoint!)[0]);
      expect(Buffer.from(got.codes).equals(Buffer.from(readTensorBytes(q8, q.weight))), m).toBe(true);
      // dequantize is the inverse up to half a step
      const deq = dequantizeAffine8(got.codes, got.scales, got.zeroPoints, w.outFeatures, false);
      const orig = readTensorFloat32(fp32, w.tensor);
      for (let i = 0; i < orig.length; i++) expect(Math.abs(deq[i]! - orig[i]!)).toBeLessThanOrEqual(got.scales[0]! * 0.5 + 1e-7);
      bytes += got.codes.length;
    }
    expect(bytes).toBeGreaterThan(0);
  });

  it('MatMulNBits 4-bit symmetric: packed codes and scales equal the stored ones', () => {
    for (const m of modules) {
      const w = locateModuleWeight(fp32, i32, m);
      const q = locateQuantizedLinear(q4, i4, m);
      if (q?.kind !== 'nbits') throw new Error(`${m}: no MatMulNBits`);
      const wt = readTensorFloat32(fp32, w.tensor); // [in, out]
      const hf = new Float32Array(wt.length);
      for (let i = 0; i < w.inFeatures; i++) for (let o = 0; o < w.outFeatures; o++) hf[o * w.inFeatures + i] = wt[i * w.outFeatures + o]!;
      const got = quantizeBlockwise4(hf, w.outFeatures, w.inFeatures, q.blockSize);
      const scales = readTensorFloat32(q4, q.scales);
      expect(Buffer.from(got.scales.buffer).equals(Buffer.from(scales.buffer)), `${m} scales`).toBe(true);
      const stored = readTensorBytes(q4, q.weight);
      expect(Buffer.from(got.packed).equals(Buffer.from(stored)), `${m} codes`).toBe(true);
      const deq = dequantizeBlockwise4(got.packed, got.scales, w.outFeatures, w.inFeatures, q.blockSize);
      let worst = 0;
      for (let i = 0; i < hf.length; i++) worst = Math.max(worst, Math.abs(deq[i]! - hf[i]!));
      // one step: the side opposite the largest magnitude clamps at code 15 (7 steps, not 8)
      expect(worst).toBeLessThanOrEqual(Math.max(...Array.from(scales, Math.abs)) + 1e-7);
    }
  });
});
