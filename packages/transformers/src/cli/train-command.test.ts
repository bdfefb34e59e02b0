import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeAdapter, readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { injectAdapters, injectPeftAdapter } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCausalLM, type CausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { runCli } from './cli-test-io.test-helper.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-train-'));
const modelDir = fixturePath('reference', 'hf', 'stories260K');
const trainFile = join(tmp, 'train.jsonl');
const evalFile = join(tmp, 'eval.jsonl');
let model: CausalLM;

beforeAll(async () => {
  await useWasmBackend();
  // Real text: the first lines of tinyshakespeare as {text} records, plus prompt/completion pairs.
  const lines = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const records = [
    ...lines.slice(0, 12).map((text) => ({ text })),
    { prompt: 'First Citizen:', completion: ' We are accounted poor citizens.' },
    { prompt: 'MENENIUS:', completion: ' What work is afoot?' },
  ];
  writeFileSync(trainFile, records.map((r) => JSON.stringify(r)).join('\n'));
  writeFileSync(
    evalFile,
    lines
      .slice(12, 16)
      .map((text) => JSON.stringify({ text }))
      .join('\n'),
  );
  model = await loadCausalLM(modelDir, { tokenizer: false });
});
afterAll(() => {
  model.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// LoRA-Dash with t = 2 launches inside a 4-step run, so the exports carry a dash term.
const trainArgs = (out: string, steps: number) => [
  'train',
  '--model',
  modelDir,
  '--data',
  trainFile,
  '--eval',
  evalFile,
  '--method',
  'lora-dash',
  '--r',
  '4',
  '--alpha',
  '8',
  '--t',
  '2',
  '--s',
  '2',
  '--steps',
  String(steps),
  '--lr',
  '1e-2',
  '--batch-size',
  '2',
  '--seq-len',
  '24',
  '--seed',
  '5',
  '--out',
  out,
];

describe('tsd-peft train', () => {
  const full = join(tmp, 'full');

  it('trains LoRA-Dash and writes a PEFT adapter that reproduces the trained model', async () => {
    const run = await runCli(trainArgs(full, 4));
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(/trained 4 steps; final loss \d/);
    expect(run.err).toMatch(/step 4\/4 {2}loss \d+\.\d{4}.*tok\/s.*eval_loss/);
    const losses = JSON.parse(readFileSync(join(full, 'losses.json'), 'utf8')) as { loss: number[]; eval: { step: number }[]; tsd: Record<string, { dash: number[] }> };
    expect(losses.loss).toHaveLength(4);
    expect(losses.eval.map((e) => e.step)).toEqual([1, 2, 3, 4]);
    expect(Object.keys(losses.tsd)).toHaveLength(10);

    // The trained model, rebuilt losslessly from the native file, vs the PEFT export applied as plain LoRA.
    const native = loadNativeAdapter(join(full, 'adapter-native.safetensors'));
    expect([...native.modules.values()].every((m) => (m.meta.dash as { launched?: boolean } | undefined)?.launched === true)).toBe(true);
    const trained = injectAdapters(model.weights, { method: 'lora-dash', r: 4, alpha: 8, t: 2, s: 2 });
    trained.loadNativeAdapter(native);
    const peft = readPeftAdapterFolder(join(full, 'adapter'));
    expect(peft.config.r).toBe(4 + 2); // plain LoRA of rank r + s (dash term folded in, scaling 1)
    const applied = injectPeftAdapter(model.weights, peft);
    const ids = [[1, 403, 407, 261, 378, 13, 302, 467]];
    const a = model.forward({ inputIds: ids }, trained);
    const b = model.forward({ inputIds: ids }, applied);
    const base = model.forward({ inputIds: ids });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(a, base))).dataSync()[0] as number);
    // fp32 products of the folded factors vs the separate branches: ≤ 1e-4 on logits of magnitude ~10.
    expect(diff).toBeLessThan(1e-4);
    expect(moved).toBeGreaterThan(1e-3); // the adapter really changed the model
    tf.dispose([a, b, base]);
    trained.dispose();
    applied.dispose();
  });

  it('resumes a completed partial run and ends exactly where an uninterrupted run ends', async () => {
    const split = join(tmp, 'split');
    expect((await runCli(trainArgs(split, 2))).status).toBe(0);
    const again = await runCli(trainArgs(split, 4));
    expect(again.status).toBe(2); // checkpoints exist and --resume was not given
    expect(again.err).toMatch(/resume/);
    const resumed = await runCli([...trainArgs(split, 4), '--resume']);
    expect(resumed.status, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed from step 2/);
    const lossesOf = (dir: string) => (JSON.parse(readFileSync(join(dir, 'losses.json'), 'utf8')) as { loss: number[] }).loss;
    expect(lossesOf(split)).toEqual(lossesOf(full));
    const x = loadNativeAdapter(join(split, 'adapter-native.safetensors'));
    const y = loadNativeAdapter(join(full, 'adapter-native.safetensors'));
    for (const [name, m] of x.modules) {
      expect(m.tensors['lora_A.weight']?.data, name).toEqual(y.modules.get(name)?.tensors['lora_A.weight']?.data);
      expect(m.tensors['lora_B.weight']?.data, name).toEqual(y.modules.get(name)?.tensors['lora_B.weight']?.data);
    }
  });

  it('rejects bad input with one line and status 2', async () => {
    const bad = async (args: string[], pattern: RegExp) => {
      const run = await runCli(args);
      expect(run.status, run.err).toBe(2);
      expect(run.err.trim().split('\n'), run.err).toHaveLength(1);
      expect(run.err).toMatch(pattern);
    };
    const out = join(tmp, 'bad');
    const base = ['train', '--model', modelDir, '--steps', '2', '--out', out];
    await bad([...base, '--data', join(tmp, 'missing.jsonl')], /no such data file.*missing\.jsonl/);
    writeFileSync(join(tmp, 'empty.jsonl'), '\n\n');
    await bad([...base, '--data', join(tmp, 'empty.jsonl')], /empty/);
    await bad([...base, '--data', trainFile, '--method', 'vera'], /unknown --method 'vera'; choose one of lora, rslora/);
    await bad([...base, '--data', trainFile, '--target-modules', 'qkv'], /'qkv' matched no 2-D weight; available modules: .*self_attn\.q_proj/);
    await bad([...base, '--data', trainFile, '--r', 'four'], /--r must be an integer/);
    await bad(['train', '--model', modelDir, '--data', trainFile, '--out', out], /missing --steps/);
    await bad([...base, '--data', trainFile, '--schedule', 'step'], /unknown --schedule/);
    await bad([...base, '--data', trainFile, '--batch-size', '2', '--workers', '3'], /--workers 3 exceeds --batch-size 2/);
    await bad([...base, '--data', trainFile, '--workers', '2', '--backend', 'webgpu'], /--workers runs on the CPU backends/);
    await bad([...base, '--data', trainFile, '--frozen-dtype', 'fp16'], /--frozen-dtype must be one of float32, bfloat16, int8, got 'fp16'/);
    await bad([...base, '--data', trainFile, '--frozen-dtype', 'int8', '--method', 'full'], /--method full trains the base weights themselves, which needs --frozen-dtype float32 \(got int8\)/);
  });

  it('trains LoRA-Dash over an int8 base with --frozen-dtype int8 and exports its adapter', async () => {
    const dir = join(tmp, 'int8');
    const run = await runCli([...trainArgs(dir, 3), '--frozen-dtype', 'int8']);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(/trained 3 steps; final loss \d/);
    const peft = readPeftAdapterFolder(join(dir, 'adapter'));
    expect(peft.config.r).toBe(4 + 2); // launched at t = 2 on the SVD of decode(W)
  });

  it('locks --out: a second run started on the same folder stops with the lock error, and the first finishes intact', async () => {
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    expect(existsSync(cli), `${cli} is missing: run npm run build`).toBe(true);
    const shared = join(tmp, 'shared-out');
    const args = (seed: number) => [cli, ...trainArgs(shared, 300), '--seed', String(seed), '--checkpoint-every', '100'];
    const first = spawn(process.execPath, args(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let firstErr = '';
    const firstExit = new Promise<number | null>((done) => first.on('close', done));
    // Start the second once the first is training (it holds the lock from before loading the model).
    await new Promise<void>((started, failed) => {
      first.stderr.on('data', (chunk: Buffer) => {
        firstErr += chunk.toString();
        if (/step \d+\/300/.test(firstErr)) started();
      });
      void firstExit.then(() => failed(new Error(`the first run ended before training: ${firstErr}`)));
    });
    const second = spawnSync(process.execPath, args(2), { encoding: 'utf8' });
    expect(second.status, second.stderr).toBe(2);
    expect(second.stderr).toMatch(/^tsd-peft train: .*shared-out is in use by tsd-peft train \(pid \d+/);
    expect(second.stderr).toContain('choose another output folder');
    expect(await firstExit, firstErr).toBe(0);
    const losses = JSON.parse(readFileSync(join(shared, 'losses.json'), 'utf8')) as { seed: number; loss: number[] };
    expect(losses.seed).toBe(1);
    expect(losses.loss).toHaveLength(300);
    expect(existsSync(join(tmp, '.shared-out.tsd-peft.lock')), 'the lock is released').toBe(false);
    // Without --resume, a later run refuses the folder's checkpoints in CLI terms.
    const again = await runCli(trainArgs(shared, 300));
    expect(again.status).toBe(2);
    expect(again.err).toMatch(/holds checkpoints of an earlier run; add --resume to continue it, or choose another --out/);
  });

  it('trains data-parallel with --workers 2 (the built CLI and its worker module) to the one-worker result', () => {
    // The worker threads load dist/train-worker.js beside dist/cli.js, so this runs the built CLI (npm test builds first).
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    expect(existsSync(cli), `${cli} is missing: run npm run build`).toBe(true);
    const parallel = join(tmp, 'parallel');
    const stdout = execFileSync(process.execPath, [cli, ...trainArgs(parallel, 4), '--workers', '2'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdout).toMatch(/trained 4 steps; final loss \d/);
    type Losses = { loss: number[]; eval: { result: { eval_loss: number } }[]; tsd: unknown };
    const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'losses.json'), 'utf8')) as Losses;
    const [one, two] = [read(full), read(parallel)];
    // Same batches, gradients averaged over the 2 shards' rows: fp32 reduction order only (~1e-6 on losses ~4).
    one.loss.forEach((l, i) => expect(Math.abs(l - (two.loss[i] as number)), `step ${i + 1}`).toBeLessThan(1e-5));
    one.eval.forEach((e, i) => expect(Math.abs(e.result.eval_loss - (two.eval[i]?.result.eval_loss as number))).toBeLessThan(1e-5));
    expect(two.tsd).toEqual(one.tsd); // LoRA-Dash launched on the same directions in every worker
    expect(existsSync(join(parallel, 'adapter', 'adapter_model.safetensors'))).toBe(true);
  });
});
