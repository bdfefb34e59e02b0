import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { moduleFromOnnxNodeName, nativeKey, onnxMatMulNodeName, parsePeftKey, peftKey, weightName } from './module-names.js';
import { fixturePath } from './testing/fixtures.js';
import { parseSafetensors } from './safetensors.js';

describe('PEFT keys', () => {
  test('peftKey and parsePeftKey are inverse', () => {
    const module = 'model.layers.0.self_attn.q_proj';
    expect(peftKey(module, 'lora_A')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(parsePeftKey(peftKey(module, 'lora_B'))).toEqual({ module, part: 'lora_B' });
    expect(weightName(module)).toBe('model.layers.0.self_attn.q_proj.weight');
    expect(nativeKey(module, 'dash_U')).toBe('base_model.model.model.layers.0.self_attn.q_proj.dash_U');
  });

  test('parsePeftKey rejects what is not a LoRA factor', () => {
    expect(parsePeftKey('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector')).toBeUndefined();
    expect(parsePeftKey('base_model.model.model.embed_tokens.lora_embedding_A')).toBeUndefined();
    expect(parsePeftKey('model.layers.0.self_attn.q_proj.lora_A.weight')).toBeUndefined();
    expect(parsePeftKey('base_model.model.lora_A.weight')).toBeUndefined();
  });

  test('every tensor of the real PEFT adapter maps to an HF module with a weight in model.safetensors', () => {
    const adapter = parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', 'peft-lora', 'adapter_model.safetensors'))));
    const model = parseSafetensors(new Uint8Array(readFileSync(fixturePath('reference', 'hf', 'stories260K', 'model.safetensors'))));
    const modules = new Set<string>();
    for (const key of adapter.tensors.keys()) {
      const parts = parsePeftKey(key);
      expect(parts).toBeDefined();
      expect(peftKey(parts!.module, parts!.part)).toBe(key);
      expect(model.tensors.has(weightName(parts!.module))).toBe(true);
      modules.add(parts!.module);
    }
    expect(modules.size).toBe(35);
  });
});

describe('ONNX node names', () => {
  const exportJson = JSON.parse(readFileSync(fixturePath('reference', 'onnx', 'export.json'), 'utf8')) as {
    linear_matmuls: Record<string, { node: string }>;
    other_matmul_nodes: string[];
  };

  test('reproduce the torch exporter’s names for all 36 linears of the real export, both ways', () => {
    const entries = Object.entries(exportJson.linear_matmuls);
    expect(entries.length).toBe(36); // 35 LoRA targets + lm_head
    for (const [module, { node }] of entries) {
      expect(onnxMatMulNodeName(module)).toBe(node);
      expect(moduleFromOnnxNodeName(node)).toBe(module);
    }
  });

  test('nested module lists and non-linear nodes', () => {
    expect(onnxMatMulNodeName('model.layers.3.mlp.experts.12.w1')).toBe('/model/layers.3/mlp/experts.12/w1/MatMul');
    expect(moduleFromOnnxNodeName('/model/layers.3/mlp/experts.12/w1/MatMul')).toBe('model.layers.3.mlp.experts.12.w1');
    for (const node of exportJson.other_matmul_nodes.filter((n) => n.endsWith('MatMul_1'))) {
      expect(moduleFromOnnxNodeName(node)).toBeUndefined();
    }
    expect(moduleFromOnnxNodeName('model/layers.0/q_proj/MatMul')).toBeUndefined();
    expect(moduleFromOnnxNodeName('/model/layers.x.0/q_proj/MatMul')).toBeUndefined();
    expect(moduleFromOnnxNodeName('//MatMul')).toBeUndefined();
  });
});
