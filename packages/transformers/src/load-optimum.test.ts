import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { injectPeftAdapter } from '@tsd-peft/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli/cli-test-io.test-helper.js';
import { loadCausalLM, type CausalLM } from './load-causal-lm.js';
import { useWasmBackend } from './models/test-backend.test-helper.js';
import { maxAbsDiff } from './onnx/onnx-fixtures.test-helper.js';
import { OPTIMUM_CASES, optimumPath, optimumRef, type OptimumRef } from './onnx/optimum-fixtures.test-helper.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsd-optimum-'));
const trainFile = join(tmp, 'train.jsonl');
beforeAll(async () => {
  await useWasmBackend();
  const lines = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  writeFileSync(
    trainFile,
    lines
      .slice(0, 12)
      .map((text) => JSON.stringify({ text }))
      .join('\n'),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(OPTIMUM_CASES)('loadCausalLM on the Optimum export %s', (name) => {
  let model: CausalLM;
  let ref: OptimumRef;
  beforeAll(async () => {
    model = await loadCausalLM(optimumPath(name, 'onnx'));
    ref = optimumRef(name);
  });
  afterAll(() => model.dispose());

  const logits = (linear?: Parameters<CausalLM['forward']>[1]): Float32Array => {
    const out = model.forward({ inputIds: [ref.ids] }, linear);
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  };

  it('reads every weight from the graph (tied head, biases, Gemm Conv1D) and matches PyTorch base logits within 1e-4', () => {
    expect(model.source.kind).toBe('onnx');
    // Optimum's exports are checked against PyTorch at ~2e-5 (ref.json optimum_onnx.full_vs_torch); the TF.js replica is fp32 too.
    const err = maxAbsDiff(logits(), ref.base);
    console.info(`${name}: TF.js replica from the ONNX folder vs PyTorch base logits ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('runs the Python PEFT adapter unmerged (fan_in_fan_out for GPT-2) to PEFT logits within 2e-3', () => {
    const adapter = readPeftAdapterFolder(optimumPath(name, 'adapter'));
    expect(adapter.config.fan_in_fan_out).toBe(name === 'gpt2');
    const adapted = injectPeftAdapter(model.weights, adapter);
    try {
      expect(maxAbsDiff(logits(adapted), ref.unmerged)).toBeLessThan(2e-3);
    } finally {
      adapted.dispose();
    }
  });
});

describe.each(OPTIMUM_CASES)('tsd-peft CLI on the Optimum export %s', (name) => {
  it('inspect summarizes the ONNX folder', async () => {
    const run = await runCli(['inspect', optimumPath(name, 'onnx')]);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toMatch(new RegExp(`model {5}${name === 'gpt2' ? 'gpt2' : name.startsWith('qwen2') ? 'qwen2' : 'llama'} \\(onnx: `));
    expect(run.out).toMatch(/vocab 512/);
  });

  it('train --model <onnx folder> trains and lowers the loss', async () => {
    const out = join(tmp, `run-${name}`);
    const targets = name === 'gpt2' ? 'c_attn' : 'q_proj,v_proj';
    const run = await runCli([
      'train',
      '--model',
      optimumPath(name, 'onnx'),
      '--data',
      trainFile,
      '--method',
      'lora',
      '--r',
      '4',
      '--alpha',
      '8',
      '--target-modules',
      targets,
      '--steps',
      '6',
      '--lr',
      '2e-2',
      '--batch-size',
      '2',
      '--seq-len',
      '16',
      '--seed',
      '3',
      '--out',
      out,
    ]);
    expect(run.status, run.err).toBe(0);
    const losses = (JSON.parse(readFileSync(join(out, 'losses.json'), 'utf8')) as { loss: number[] }).loss;
    expect(losses).toHaveLength(6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[5]!).toBeLessThan(losses[0]!);
    const adapter = readPeftAdapterFolder(join(out, 'adapter'));
    expect(adapter.modules.size).toBe(name === 'gpt2' ? 2 : 4); // 2 layers
    // Python PEFT marks GPT-2's Conv1D targets fan_in_fan_out; so does the written config.
    expect(adapter.config.fan_in_fan_out).toBe(name === 'gpt2');
  });
});
