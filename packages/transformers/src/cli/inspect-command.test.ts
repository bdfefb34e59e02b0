import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPeftAdapter, parsePeftKey, tensorToFloat32, type LoraFactors, type ModuleRecord } from '@tsd-peft/core';
import { readSafetensorsFile, saveNativeAdapter, savePeftAdapter } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { injectAdapters } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { runCli } from './cli-test-io.test-helper.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-inspect-'));
const modelDir = fixturePath('reference', 'hf', 'stories260K');
const trajectory = fixturePath('reference', 'lora-dash-trajectory');
const launchRef = (JSON.parse(readFileSync(join(trajectory, 'launch.json'), 'utf8')) as { modules: Record<string, { top_index: number[]; change_rate: number[] }> }).modules;
/** A/B of every module at the reference run's launch (after 20 steps), scaling alpha/r = 2. */
const launchFactors = new Map<string, LoraFactors>();

beforeAll(async () => {
  await useWasmBackend();
  const st = readSafetensorsFile(join(trajectory, 'launch_state.safetensors'));
  const parts = new Map<string, Partial<Record<'A' | 'B', { rows: number; cols: number; data: Float32Array }>>>();
  for (const [key, t] of st.tensors) {
    const p = parsePeftKey(key);
    if (p === undefined) continue; // dash_U / dash_Vh
    const m = parts.get(p.module) ?? {};
    m[p.part === 'lora_A' ? 'A' : 'B'] = { rows: t.shape[0] as number, cols: t.shape[1] as number, data: tensorToFloat32(t, key) };
    parts.set(p.module, m);
  }
  for (const [name, { A, B }] of parts) if (A && B) launchFactors.set(name, { A, B, scaling: 2 });
  savePeftAdapter(join(tmp, 'at-launch'), createPeftAdapter(launchFactors, { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('tsd-peft inspect', () => {
  it('summarizes a model', async () => {
    const run = await runCli(['inspect', modelDir]);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(/model {5}llama \(safetensors: /);
    expect(run.out).toMatch(/layers {4}5, hidden 64, vocab 512/);
    // Weights, the tied classifier counted once: 512·64 + 5·45 440 + 64. (The README's 264,128 also
    // counts llama2.c's 4,096-entry RoPE tables, which are not weights.)
    expect(run.out).toMatch(/params {4}260,032/);
    expect(run.out).toMatch(/model\.layers\.N\.self_attn\.k_proj +×5 +\[32, 64\]/);
  });

  it("finds the reference launch's task-specific directions from the adapter at launch", async () => {
    // The change-rate spectrum of scaling·B·A at launch must select what torch selected (launch.json).
    const run = await runCli(['inspect', join(tmp, 'at-launch'), '--base', modelDir, '--top', '4', '--json']);
    expect(run.status, run.err).toBe(0);
    const report = JSON.parse(run.out) as { method: string; r: number; spectra: { name: string; rates: number[]; top: { index: number }[] }[] };
    expect(report.method).toBe('lora');
    expect(report.spectra).toHaveLength(10);
    for (const sp of report.spectra) {
      const ref = launchRef[sp.name];
      expect(
        sp.top.map((t) => t.index),
        sp.name,
      ).toEqual(ref?.top_index);
      // fp32 torch SVD vs ours (float64 on the fp32 W): rates agree to 1e-4 relative (the fixture README's tolerance).
      const scale = Math.max(...(ref?.change_rate ?? []));
      const diff = Math.max(...sp.rates.map((r, i) => Math.abs(r - (ref?.change_rate[i] as number))));
      expect(diff / scale, sp.name).toBeLessThan(1e-4);
    }
    const table = await runCli(['inspect', join(tmp, 'at-launch'), '--base', modelDir, '--top', '4']);
    expect(table.status).toBe(0);
    expect(table.out).toMatch(/TSDs/);
    expect(table.out).toMatch(/model\.layers\.0\.self_attn\.q_proj +\S+ +\d\.\d\de[+-]\d+ +#63:\S+ #59:\S+ #55:\S+ #58:\S+/);
  });

  it('summarizes PEFT and native adapters, with the directions LoRA-Dash launched on', async () => {
    const peft = await runCli(['inspect', fixturePath('reference', 'peft-lora')]);
    expect(peft.status, peft.err).toBe(0);
    expect(peft.out).toMatch(/method {4}lora, r 4, alpha 8/);
    expect(peft.out).toMatch(/modules {3}35 /);
    // Its recorded base, "hf/stories260K", is a folder beside the adapter's: the spectrum needs no --base.
    expect(peft.out).toContain(`(spectrum against the recorded base, found at ${modelDir})`);
    expect(peft.out).toMatch(/model\.layers\.4\.mlp\.down_proj +\S+ +\d\.\d\de[+-]\d+ +#\d+:/);

    // A recorded hub id is not downloaded unasked, and an adapter without a recorded base asks for --base.
    const hubBased = join(tmp, 'hub-based');
    savePeftAdapter(hubBased, createPeftAdapter(launchFactors, { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'some-org/not-here' }));
    const hub = await runCli(['inspect', hubBased]);
    expect(hub.status, hub.err).toBe(0);
    expect(hub.out).toMatch(/the recorded base some-org\/not-here is not a local model here; pass --base/);
    expect(hub.out).not.toMatch(/TSDs/);
    const unrecorded = await runCli(['inspect', join(tmp, 'at-launch')]);
    expect(unrecorded.out).toMatch(/^\(pass --base <model>/m);

    // A native LoRA-Dash adapter launched from the reference A/B (t = 1 after setting them).
    const model = await loadCausalLM(modelDir, { tokenizer: false });
    const dash = injectAdapters(model.weights, { method: 'lora-dash', r: 4, alpha: 8, t: 1, s: 4 });
    dash.loadPeftAdapter(createPeftAdapter(launchFactors, { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
    dash.afterOptimizerStep(1);
    saveNativeAdapter(join(tmp, 'dash.safetensors'), dash.toNativeAdapter({ baseModel: modelDir }));
    dash.dispose();
    model.dispose();
    const native = await runCli(['inspect', join(tmp, 'dash.safetensors'), '--base', modelDir, '--top', '4']);
    expect(native.status, native.err).toBe(0);
    expect(native.out).toMatch(/method {4}lora-dash, r 4/);
    expect(native.out).toMatch(/params {4}4,520/); // 10·4·64 (A) + 5·(64+32)·4 (B) + 10·4 (d)
    expect(native.out).toMatch(/model\.layers\.0\.self_attn\.q_proj +63 59 55 58/);
    expect(native.out).toMatch(/launch selected 63 59 55 58/);
  });

  it('lists the state of a method without LoRA factors instead of refusing the file', async () => {
    // e.g. a method registered outside the packages (tests/register-variant.test.ts) next to a LoRA module
    const q = launchFactors.get('model.layers.0.self_attn.q_proj') as LoraFactors;
    const file = join(tmp, 'mixed.safetensors');
    saveNativeAdapter(file, {
      modules: new Map<string, ModuleRecord>([
        [
          'model.layers.0.self_attn.q_proj',
          { method: 'lora', tensors: { 'lora_A.weight': { shape: [q.A.rows, q.A.cols], data: q.A.data }, 'lora_B.weight': { shape: [q.B.rows, q.B.cols], data: q.B.data } }, meta: { scaling: 2 } },
        ],
        [
          'model.layers.0.self_attn.v_proj',
          { method: 'my-method', tensors: { row_sums: { shape: [32], data: new Float64Array(32) }, 'P.weight': { shape: [2, 64], data: new Float32Array(128) } }, meta: { steps: 3 } },
        ],
      ]),
    });
    const run = await runCli(['inspect', file, '--base', modelDir, '--top', '2']);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(/method {4}lora, my-method, r 4/);
    expect(run.out).toMatch(/params {4}672/); // 4·64 + 64·4 (LoRA) + 32 + 2·64 (the other method's tensors)
    expect(run.out).toMatch(/model\.layers\.0\.self_attn\.v_proj +my-method: row_sums \[32\], P\.weight \[2, 64\]/);
    expect(run.out).toMatch(/model\.layers\.0\.self_attn\.q_proj .*#\d+:/); // the LoRA module still gets its spectrum
    const json = JSON.parse((await runCli(['inspect', file, '--json'])).out) as { modules: { name: string; r: number | null; stateTensors?: unknown[] }[] };
    expect(json.modules.map((m) => [m.r, m.stateTensors?.length ?? 0])).toEqual([
      [4, 0],
      [null, 2],
    ]);
  });

  it('rejects bad arguments with status 2', async () => {
    for (const [args, pattern] of [
      [['inspect'], /missing the model or adapter path/],
      [['inspect', join(tmp, 'at-launch'), '--top', '0'], /--top must be ≥ 1/],
      [['inspect', join(tmp, 'nothing-here')], /no such file or folder/],
      [['inspect', modelDir, '--base', modelDir], /--base is for adapters/],
    ] as const) {
      const run = await runCli([...args]);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.err).toMatch(pattern);
    }
  });
});
