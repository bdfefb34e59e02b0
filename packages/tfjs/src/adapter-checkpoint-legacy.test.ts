/**
 * Files on users' disks from before module records: trainer checkpoints and
 * native adapters (formats 2 and 3) that the previous code wrote for a small
 * LoRA-TSD and DoRA run (`test-fixtures/legacy-state`). Repeating the run
 * here, a resume from the old checkpoint must end bit for bit where the
 * uninterrupted run ends, and the old native file must load into the same
 * state, every tensor bit for bit.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { NATIVE_METADATA_KEY, parseNativeAdapter, parseSafetensors, serializeNativeAdapter } from '@tsd-peft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterModel } from './adapter-model.js';
import { setupBackend } from './backend/setup.js';
import { LEGACY_CHECKPOINT_STEP, LEGACY_CONFIGS, LEGACY_DIR, LEGACY_STEPS, LEGACY_TOY, legacyOutput, legacyRun } from './test-fixtures/legacy-state/legacy-run.js';
import { checkpointFileName } from './trainer/checkpoint-store.js';
import { CHECKPOINT_METADATA_KEY } from './trainer/checkpoint.js';

let weights: Map<string, tf.Tensor2D>;
let scratch: string;
beforeAll(async () => {
  await setupBackend('cpu');
  weights = LEGACY_TOY.weights();
  scratch = mkdtempSync(join(tmpdir(), 'tsd-legacy-'));
});
afterAll(() => {
  tf.dispose([...weights.values()]);
  rmSync(scratch, { recursive: true, force: true });
});

const legacyFile = (name: string) => new Uint8Array(readFileSync(join(LEGACY_DIR, name)));
const values = (m: AdapterModel) => Object.fromEntries([...m.trainableVariables()].map(([n, v]) => [n, Array.from(v.dataSync())]));

describe.each(Object.keys(LEGACY_CONFIGS) as (keyof typeof LEGACY_CONFIGS)[])('%s: files written before module records', (method) => {
  it('an old trainer checkpoint resumes bit for bit', async () => {
    const straight = await legacyRun(method, weights, join(scratch, `${method}-straight`), { steps: LEGACY_STEPS });
    const bytes = legacyFile(`${method}.checkpoint.safetensors`);
    // the old layout: per-module { method, init, dash } and the spectra in JSON, no stateFormat
    const json = JSON.parse(parseSafetensors(bytes).metadata?.[CHECKPOINT_METADATA_KEY] ?? '{}') as { step: number; model: { meta: Record<string, unknown> } };
    expect(json.step).toBe(LEGACY_CHECKPOINT_STEP);
    expect(json.model.meta.stateFormat).toBeUndefined();
    const dir = join(scratch, `${method}-resumed`);
    mkdirSync(dir);
    copyFileSync(join(LEGACY_DIR, `${method}.checkpoint.safetensors`), join(dir, checkpointFileName(LEGACY_CHECKPOINT_STEP)));
    const resumed = await legacyRun(method, weights, dir, { steps: LEGACY_STEPS, resume: true });
    expect(resumed.losses).toEqual(straight.losses.slice(LEGACY_CHECKPOINT_STEP));
    expect(values(resumed.model)).toEqual(values(straight.model));
    expect(resumed.model.tsdSelections()).toEqual(straight.model.tsdSelections());
    expect(legacyOutput(resumed.model)).toEqual(legacyOutput(straight.model));
    // it went on writing checkpoints in the new layout: the variables once (as variables), the spectra as F64 tensors
    const now = parseSafetensors(new Uint8Array(readFileSync(join(dir, checkpointFileName(LEGACY_STEPS)))));
    const modelKeys = [...now.tensors.keys()].filter((k) => k.startsWith('model/'));
    expect(modelKeys.filter((k) => /lora_[AB]\.weight$|dash_d$/.test(k))).toEqual([]);
    if (method === 'lora-tsd') expect(now.tensors.get('model/base_model.model.fc1.dash_change_rates')?.dtype).toBe('F64');
    // and those resume too
    const again = await legacyRun(method, weights, dir, { steps: LEGACY_STEPS, resume: true });
    expect(values(again.model)).toEqual(values(straight.model));
    [straight.model, resumed.model, again.model].forEach((m) => m.dispose());
  });

  it('an old native adapter loads into the same state, every tensor bit for bit', async () => {
    const bytes = legacyFile(`${method}.native.safetensors`);
    const old = parseSafetensors(bytes);
    expect(JSON.parse(old.metadata?.[NATIVE_METADATA_KEY] ?? '{}').format_version).toBe(method === 'dora' ? 3 : 2);
    const straight = await legacyRun(method, weights, join(scratch, `${method}-native`), { steps: LEGACY_STEPS });
    const loaded = legacyRun.inject(method, weights, 99);
    loaded.loadNativeAdapter(parseNativeAdapter(bytes, `${method}.native.safetensors`));
    expect(legacyOutput(loaded)).toEqual(legacyOutput(straight.model));
    expect(loaded.tsdSelections()).toEqual(straight.model.tsdSelections());
    // written again (format 4), every tensor of the old file is there under its old name, same dtype, same bytes
    const rewritten = serializeNativeAdapter(loaded.toNativeAdapter());
    const now = parseSafetensors(rewritten);
    expect([...now.tensors.keys()].sort()).toEqual([...old.tensors.keys()].sort());
    for (const [key, t] of old.tensors) {
      expect(now.tensors.get(key)?.dtype, key).toBe(t.dtype);
      expect(now.tensors.get(key)?.data, key).toEqual(t.data);
    }
    // which is also what the uninterrupted run writes today
    expect(rewritten).toEqual(serializeNativeAdapter(straight.model.toNativeAdapter()));
    loaded.dispose();
    straight.model.dispose();
  });
});
