import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, SafetensorsError, parseSafetensors } from '@tsd-peft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_METADATA_KEY, decodeCheckpoint, encodeCheckpoint, type TrainerCheckpoint } from './checkpoint.js';
import { checkpointFileName } from './checkpoint-store.js';
import { directoryCheckpointStore } from './directory-store.js';

function sample(step: number): TrainerCheckpoint {
  const rng = Rng.fromSeed(9);
  rng.normal(); // leaves a cached spare normal in the state
  const f32 = (...xs: number[]) => Float32Array.from(xs);
  return {
    step,
    lossHistory: Array.from({ length: step }, (_, i) => Math.fround(1 / (i + 3))),
    evalHistory: [{ step: 1, result: { loss: 0.5, ppl: Math.E } }],
    elapsedSeconds: 1.25,
    rng: rng.getState(),
    cursor: { epoch: 1, offset: 2, seed: 77 },
    variables: new Map([
      ['model.layers.0.self_attn.q_proj/lora_A', { shape: [2, 3], data: f32(1, -2, 3.5, Number.MIN_VALUE, -0, 1e-30) }],
      ['dash.d', { shape: [2], data: f32(0.25, -0.125) }],
    ]),
    optimizer: {
      config: { type: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
      variables: {
        'model.layers.0.self_attn.q_proj/lora_A': { step: 7, expAvg: { shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) }, expAvgSq: { shape: [2, 3], data: f32(6, 5, 4, 3, 2, 1) } },
        'dash.d': { step: 2, expAvg: { shape: [2], data: f32(0.5, 0.5) }, expAvgSq: { shape: [2], data: f32(1e-9, 2e-9) } },
      },
    },
    model: { tensors: { 'dash.U': { shape: [3, 2], data: f32(1, 0, 0, 1, 0, 0) } }, meta: { launched: true, topIndex: [3, 1] } },
  };
}

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsd-ckpt-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('checkpoint encoding', () => {
  it('round-trips every field exactly (bits of every float32, -0 and denormals included)', () => {
    const original = sample(4);
    const decoded = decodeCheckpoint(encodeCheckpoint(original), 'mem');
    expect(decoded).toEqual(original);
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
    const name = 'model.layers.0.self_attn.q_proj/lora_A';
    expect(bits(decoded.variables.get(name)?.data as Float32Array)).toEqual(bits(original.variables.get(name)?.data as Float32Array));
  });

  it('is a plain safetensors file any reader can list', () => {
    const parsed = parseSafetensors(encodeCheckpoint(sample(2)));
    expect([...parsed.tensors.keys()].sort()).toEqual([
      'model/dash.U',
      'optimizer.exp_avg/dash.d',
      'optimizer.exp_avg/model.layers.0.self_attn.q_proj/lora_A',
      'optimizer.exp_avg_sq/dash.d',
      'optimizer.exp_avg_sq/model.layers.0.self_attn.q_proj/lora_A',
      'variable/dash.d',
      'variable/model.layers.0.self_attn.q_proj/lora_A',
    ]);
    expect(JSON.parse(parsed.metadata?.[CHECKPOINT_METADATA_KEY] ?? '{}').step).toBe(2);
  });

  it('rejects truncated, foreign or inconsistent files with SafetensorsError naming the file', () => {
    const bytes = encodeCheckpoint(sample(3));
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 5), 'ckpt.safetensors')).toThrow(SafetensorsError);
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 5), 'ckpt.safetensors')).toThrow(/ckpt\.safetensors/);
    // Same-length edits inside the JSON header keep every offset valid.
    const edit = (from: string, to: string) => {
      const copy = Buffer.from(bytes);
      const at = copy.indexOf(from);
      expect(at).toBeGreaterThan(0);
      copy.write(to, at);
      return new Uint8Array(copy);
    };
    expect(() => decodeCheckpoint(edit('\\"version\\":1', '\\"version\\":9'), 'v9')).toThrow(/version 9/);
    expect(() => decodeCheckpoint(edit('\\"step\\":3', '\\"step\\":5'), 'x')).toThrow(/loss history/);
    expect(() => decodeCheckpoint(edit('variable/dash.d', 'variable/dash.e'), 'x')).toThrow(/tensor variable\/dash\.d/);
  });
});

describe('directoryCheckpointStore', () => {
  it('writes atomically, keeps the newest keepLast, and ignores temp files of a killed writer', async () => {
    const dir = tempDir();
    const store = directoryCheckpointStore(join(dir, 'nested'), { keepLast: 2 });
    expect(await store.latest()).toBeUndefined();
    for (const step of [5, 10, 15]) await store.save(step, encodeCheckpoint(sample(step)));
    expect(await store.steps()).toEqual([10, 15]);
    expect(readdirSync(join(dir, 'nested')).sort()).toEqual([checkpointFileName(10), checkpointFileName(15)]);
    // What a SIGKILL during a write leaves behind: a partial temp file. It must never be picked.
    writeFileSync(join(dir, 'nested', `.${checkpointFileName(20)}.123.abc.tmp`), new Uint8Array([1, 2, 3]));
    const latest = await store.latest();
    expect(latest?.step).toBe(15);
    expect(decodeCheckpoint(latest?.bytes as Uint8Array, latest?.location).lossHistory).toHaveLength(15);
    expect(checkpointFileName(120)).toBe('checkpoint-00000120.safetensors');
  });

  it('with keepLast 1 removes the previous checkpoint only after the new one is in place', async () => {
    const dir = tempDir();
    const store = directoryCheckpointStore(dir);
    await store.save(1, encodeCheckpoint(sample(1)));
    await store.save(2, encodeCheckpoint(sample(2)));
    expect(readdirSync(dir)).toEqual([checkpointFileName(2)]);
    // A store never prunes a checkpoint newer than the one it writes.
    await store.save(1, encodeCheckpoint(sample(1)));
    expect(await store.steps()).toEqual([1, 2]);
  });
});
