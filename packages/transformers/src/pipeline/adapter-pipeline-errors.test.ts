import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, env, type PreTrainedModel } from '@huggingface/transformers';
import { ConfigError, ShapeError, type TsdError } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { fixturePath } from '@tsd-peft/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseModelMismatchError, RankPatternError, TargetModuleMissingError } from '../onnx/adapter-errors.js';
import { referenceIds, storiesDir } from '../onnx/onnx-fixtures.test-helper.js';
import { optimumPath } from '../onnx/optimum-fixtures.test-helper.js';
import { adapterPipeline } from './adapter-pipeline-node.js';
import type { AdapterPipeline } from './adapter-pipeline.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const tmp = mkdtempSync(join(tmpdir(), 'tsd-adapter-pipeline-errors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const peftLora = fixturePath('reference', 'peft-lora');

async function logitsOf(gen: AdapterPipeline<'text-generation'>, ids: readonly number[]): Promise<Uint32Array> {
  const t = (v: readonly number[]): Tensor => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
  const out = (await (gen.model as PreTrainedModel)({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)) })) as { logits: Tensor };
  const data = out.logits.data as Float32Array;
  return new Uint32Array(Float32Array.from(data).buffer); // bits, for exact comparison
}

describe('adapterPipeline: bad adapters get typed errors and never leave the pipeline half-switched', () => {
  let gen: AdapterPipeline<'text-generation'>;
  let withLora: Uint32Array;
  const ids = referenceIds('input2');
  beforeAll(async () => {
    gen = await adapterPipeline('text-generation', storiesDir(), { dtype: 'fp32' });
    await gen.loadAdapter('lora', peftLora);
    gen.setAdapter('lora');
    withLora = await logitsOf(gen, ids);
  });
  afterAll(async () => {
    await gen?.dispose();
  });

  /** The pipeline still runs the 'lora' adapter, bit for bit, and knows only it. */
  async function unchanged(): Promise<void> {
    expect(gen.activeAdapter).toBe('lora');
    expect(gen.adapterNames).toEqual(['lora']);
    expect(await logitsOf(gen, ids)).toEqual(withLora);
  }

  it('an adapter for another base model (Qwen2 GQA: v_proj is [16, 64], here [32, 64]) is a BaseModelMismatchError, even when it replaces the active adapter', async () => {
    const other = optimumPath('qwen2-bias-gqa', 'adapter');
    // q_proj of layer 0 fits ([64, 64] in both), so the failure comes mid-way through the adapter's modules.
    const err = await gen.loadAdapter('lora', other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BaseModelMismatchError);
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as TsdError).code).toBe('SHAPE');
    expect(String((err as Error).message)).toMatch(/another base model: model\.layers\.0\.self_attn\.v_proj is \[out 16, in 64\] in the adapter but \[out 32, in 64\] in this graph/);
    await unchanged();
  });

  it('target modules the graph lacks (GPT-2 c_attn) are a TargetModuleMissingError', async () => {
    const err = await gen.loadAdapter('gpt2', optimumPath('gpt2', 'adapter')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetModuleMissingError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as TsdError).tensor).toBe('transformer.h.0.attn.c_attn');
    await unchanged();
  });

  it('a rank pattern that does not fit the factors: ShapeError from the folder, RankPatternError for an in-memory adapter', async () => {
    const dir = join(tmp, 'bad-rank-pattern');
    cpSync(peftLora, dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, rank_pattern: { 'layers.3.mlp.down_proj': 8 } }));
    await expect(gen.loadAdapter('bad', dir)).rejects.toThrow(ShapeError);
    await expect(gen.loadAdapter('bad', dir)).rejects.toThrow(/rank 4 in the file but the config gives r = 8/);
    const adapter = readPeftAdapterFolder(peftLora);
    const bent = { ...adapter, config: { ...adapter.config, rank_pattern: { 'layers.3.mlp.down_proj': 8 } } };
    const err = await gen.loadAdapter('lora', bent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RankPatternError);
    expect(String((err as Error).message)).toMatch(/model\.layers\.3\.mlp\.down_proj has rank 4, but the config's r \/ rank_pattern gives 8/);
    await unchanged();
  });

  it('unknown names are refused and change nothing; deleting the active adapter gives the base model', async () => {
    expect(() => gen.setAdapter('missing')).toThrow(/no adapter loaded as "missing" \(loaded: lora\)/);
    expect(() => gen.deleteAdapter('missing')).toThrow(ConfigError);
    await unchanged();
    const base = await adapterPipeline('text-generation', storiesDir(), { dtype: 'fp32', targetModules: ['model.layers.0.self_attn.q_proj'] });
    try {
      expect(base.targetModules).toEqual(['model.layers.0.self_attn.q_proj']);
      // A module in the graph but outside targetModules: a ConfigError saying so (not a missing module).
      const err = await base.loadAdapter('lora', peftLora).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).not.toBeInstanceOf(TargetModuleMissingError);
      expect(String((err as Error).message)).toMatch(/which the runtime rewrite did not cover/);
      await base.loadAdapter('q0', new Map([['model.layers.0.self_attn.q_proj', readPeftAdapterFolder(peftLora).modules.get('model.layers.0.self_attn.q_proj')!]]));
      base.setAdapter('q0');
      base.deleteAdapter('q0');
      expect(base.activeAdapter).toBeNull();
      expect(base.adapterNames).toEqual([]);
    } finally {
      await base.dispose();
    }
    await expect(adapterPipeline('text-generation', storiesDir(), { targetModules: ['model.layers.9.self_attn.q_proj'] })).rejects.toThrow(/targetModules names model\.layers\.9\.self_attn\.q_proj/);
    await expect(adapterPipeline('text-generation', storiesDir(), { dtype: 'q2' as never })).rejects.toThrow(/unknown dtype "q2"/);
    await expect(adapterPipeline('text-generation', storiesDir(), { dtype: 'int8' })).rejects.toThrow(/the model has no onnx\/model_int8\.onnx/);
  });
});
