import { readFileSync } from 'node:fs';
import { createPeftAdapter, parseSafetensors, serializePeftAdapter, tensorToFloat32, type LoraFactors, type PeftAdapter } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { injectPeftAdapter } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from './load-causal-lm.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { trajectoryBatch } from './replay.js';
import { fineTune } from './training/fine-tune.js';

/**
 * DoRA (Liu et al. 2024) against Python PEFT 0.21 (`use_dora=True`), on
 * shared/reference/peft-dora (reference/README.md "peft-dora"): our export of
 * its adapter is PEFT's own file, and a 20-step training run matches PEFT's.
 */

let model: CausalLM;

function tensorsOf(...parts: string[]): Map<string, Float32Array> {
  const file = parseSafetensors(new Uint8Array(readFileSync(fixturePath(...parts))));
  return new Map([...file.tensors].map(([k, t]) => [k, tensorToFloat32(t, k)]));
}

beforeAll(async () => {
  await useWasmBackend();
  model = await loadCausalLM(fixturePath('reference', 'hf', 'stories260K'), { tokenizer: false });
});
afterAll(() => model.dispose());

// The adapter's unmerged and merged logits are checked with the other PEFT fixtures in load-causal-lm.test.ts.
describe('PEFT DoRA adapter (peft-dora/adapter, all 7 projections): export', () => {
  it('exports (toPeftAdapter) the same tensors, bit for bit, in a file PEFT writes byte for byte, with config keys PEFT knows', () => {
    const adapter = readPeftAdapterFolder(fixturePath('reference', 'peft-dora', 'adapter'));
    expect(adapter.magnitudes?.size).toBe(35);
    const adapted = injectPeftAdapter(model.weights, adapter);
    const out = adapted.toPeftAdapter();
    adapted.dispose();
    // What Python PEFT loads: the same names, order, dtypes, shapes and bytes as its own save_pretrained …
    const files = serializePeftAdapter(out);
    const peftWeights = readFileSync(fixturePath('reference', 'peft-dora', 'adapter', 'adapter_model.safetensors'));
    expect(Buffer.from(files.weights).equals(peftWeights)).toBe(true);
    // … and a config whose every key PEFT 0.21's LoraConfig accepts, marking DoRA.
    const ours = JSON.parse(files.configJson) as Record<string, unknown>;
    const peft = JSON.parse(readFileSync(fixturePath('reference', 'peft-dora', 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(ours).filter((k) => !(k in peft))).toEqual([]);
    expect(ours.use_dora).toBe(true);
    expect(out.config.use_dora).toBe(true);
    expect(out.config.r).toBe(4);
    expect(out.config.lora_alpha).toBe(8);
    expect([...out.modules.keys()].sort()).toEqual([...adapter.modules.keys()].sort());
    for (const [module, f] of adapter.modules) {
      expect(out.modules.get(module)!.A.data, module).toEqual(f.A.data);
      expect(out.modules.get(module)!.B.data, module).toEqual(f.B.data);
      expect(out.magnitudes?.get(module), module).toEqual(adapter.magnitudes?.get(module));
    }
  });
});

describe('DoRA training run (peft-dora trajectory: q/v, r 4, alpha 8, Adam 3e-3, 20 steps)', () => {
  const dir = ['reference', 'peft-dora'] as const;
  const reference = JSON.parse(readFileSync(fixturePath(...dir, 'reference.json'), 'utf8')) as { trajectory: { losses: number[] } };
  const batches = (JSON.parse(readFileSync(fixturePath('reference', 'lora-dash-trajectory', 'batches.json'), 'utf8')) as { batches: number[][][] }).batches;
  const PREFIX = 'base_model.model.';

  /** trajectory_*.safetensors (`…lora_A.weight`, `…lora_B.weight`, `…lora_magnitude_vector.weight`) as a PEFT DoRA adapter. */
  function trajectoryAdapter(file: string): PeftAdapter {
    const t = tensorsOf(...dir, file);
    const modules = new Map<string, LoraFactors>();
    const magnitudes = new Map<string, Float32Array>();
    for (const key of t.keys()) {
      if (!key.endsWith('.lora_A.weight')) continue;
      const module = key.slice(PREFIX.length, -'.lora_A.weight'.length);
      const A = t.get(key)!;
      const B = t.get(`${PREFIX}${module}.lora_B.weight`)!;
      const m = t.get(`${PREFIX}${module}.lora_magnitude_vector.weight`)!;
      modules.set(module, { A: { rows: 4, cols: A.length / 4, data: A }, B: { rows: B.length / 4, cols: 4, data: B }, scaling: 2 });
      magnitudes.set(module, m);
    }
    return createPeftAdapter(modules, { r: 4, lora_alpha: 8, use_dora: true, target_modules: ['q_proj', 'v_proj'] }, magnitudes);
  }

  it('matches PEFT per step within 1e-4 and the final A, B, m within 1e-3 relative', async () => {
    const init = trajectoryAdapter('trajectory_init.safetensors');
    const final = trajectoryAdapter('trajectory_final.safetensors');
    expect(init.modules.size).toBe(10);
    const losses: number[] = [];
    const { adapter } = await fineTune({
      model,
      adapter: { method: 'dora', r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] },
      initialAdapter: init,
      data: (i) => trajectoryBatch(batches[i]!),
      steps: 20,
      lr: 3e-3,
      optimizer: { type: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      onProgress: (event) => {
        losses.push(event.loss);
      },
    });
    const got = adapter.toPeftAdapter();
    adapter.dispose();
    const want = reference.trajectory.losses;
    const lossDiff = Math.max(...want.map((l, i) => Math.abs(losses[i]! - l)));
    // Relative as the replay checks define it: max|x − ref| / max|ref| per tensor.
    const rel = (a: Float32Array, b: Float32Array) => {
      let d = 0;
      let m = 0;
      b.forEach((v, i) => {
        d = Math.max(d, Math.abs(a[i]! - v));
        m = Math.max(m, Math.abs(v));
      });
      return d / m;
    };
    let worst = 0;
    for (const [module, f] of final.modules) {
      const g = got.modules.get(module)!;
      worst = Math.max(worst, rel(g.A.data, f.A.data), rel(g.B.data, f.B.data), rel(got.magnitudes!.get(module)!, final.magnitudes!.get(module)!));
    }
    console.info(`peft-dora trajectory: max per-step |loss − PEFT| ${lossDiff.toExponential(2)}, max relative final-tensor error ${worst.toExponential(2)}`);
    expect(losses).toHaveLength(20);
    expect(lossDiff).toBeLessThan(1e-4);
    expect(worst).toBeLessThan(1e-3);
  }, 300_000);
});
