import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, env, pipeline, type PreTrainedModel, type TextGenerationPipeline } from '@huggingface/transformers';
import { HubError } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHubMirror, type HubMirror } from '../loaders/hub-mirror.test-helper.js';
import { externalizeInitializers } from '../onnx/external-data.js';
import { maxAbsDiff } from '../onnx/onnx-fixtures.test-helper.js';
import { optimumPath, optimumRef } from '../onnx/optimum-fixtures.test-helper.js';
import { concatBytes } from '../onnx/protobuf-wire.js';
import { adapterPipeline as browserAdapterPipeline } from './adapter-pipeline-browser.js';
import { adapterPipeline } from './adapter-pipeline-node.js';
import type { AdapterPipeline } from './adapter-pipeline.js';

const REPO = 'tsd-peft-test/llama-gqa-tied-ONNX';
/** The PEFT adapter of llama-gqa-tied as a hub repo of its own. */
const ADAPTER_REPO = 'tsd-peft-test/llama-gqa-tied-lora';
/** GPT-2 with its fp32 weights in onnx/model.onnx_data (built in beforeAll). */
const EXT_REPO = 'tsd-peft-test/gpt2-external';
const tmp = mkdtempSync(join(tmpdir(), 'tsd-adapter-pipeline-hub-'));
const saved = { remoteHost: env.remoteHost, cacheDir: env.cacheDir, allowRemoteModels: env.allowRemoteModels, allowLocalModels: env.allowLocalModels, useFSCache: env.useFSCache };
let mirror: HubMirror;

beforeAll(async () => {
  const extRoot = join(tmp, 'gpt2-external');
  cpSync(optimumPath('gpt2', 'onnx'), extRoot, { recursive: true });
  const ext = externalizeInitializers(new Uint8Array(readFileSync(join(extRoot, 'onnx', 'model.onnx'))));
  writeFileSync(join(extRoot, 'onnx', 'model.onnx'), concatBytes(ext.model));
  writeFileSync(join(extRoot, 'onnx', 'model.onnx_data'), ext.data);
  mirror = await startHubMirror({ [REPO]: optimumPath('llama-gqa-tied', 'onnx'), [EXT_REPO]: extRoot, [ADAPTER_REPO]: optimumPath('llama-gqa-tied', 'adapter') });
});
beforeEach(() => {
  mirror.log = [];
  env.remoteHost = mirror.host;
  env.cacheDir = join(tmp, `cache-${Math.random().toString(36).slice(2)}`);
  env.allowRemoteModels = true;
  env.allowLocalModels = false;
});
afterEach(() => Object.assign(env, saved));
afterAll(async () => {
  await mirror.close();
  rmSync(tmp, { recursive: true, force: true });
});

const ids64 = (ids: readonly number[]): Tensor => new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
async function logitsOf(p: { model: unknown }, ids: readonly number[]): Promise<Float32Array> {
  const out = (await (p.model as PreTrainedModel)({ input_ids: ids64(ids), attention_mask: ids64(ids.map(() => 1)) })) as { logits: Tensor };
  return Float32Array.from(out.logits.data as Float32Array);
}
const downloads = (repo: string): string[] => mirror.log.filter((l) => l.startsWith('200')).map((l) => l.slice(`200 /${repo}/resolve/main/`.length));

describe('adapterPipeline from a hub id (loopback mirror of the hub)', () => {
  it.each([
    ['Node', adapterPipeline],
    ['browser', browserAdapterPipeline],
  ] as const)('%s entry: fetches only the dtype’s ONNX file, writes no rewritten file anywhere, and switches the PEFT adapter', async (_entry, make) => {
    const ref = optimumRef('llama-gqa-tied');
    const gen: AdapterPipeline<'text-generation'> = await make('text-generation', REPO, { dtype: 'q8' });
    try {
      const onnx = downloads(REPO).filter((f) => f.startsWith('onnx/'));
      expect(onnx).toEqual(['onnx/model_quantized.onnx']);
      // Each file once: transformers.js's load found what was fetched before in its cache.
      expect(new Set(downloads(REPO)).size).toBe(downloads(REPO).length);
      // Nothing derived was written: the cache holds the repo's own files only.
      const written = existsSync(env.cacheDir!) ? readdirSync(env.cacheDir!, { recursive: true }).map(String) : [];
      expect(written.filter((f) => f.includes('tsd-runtime'))).toEqual([]);
      const plain = (await pipeline('text-generation', REPO, { dtype: 'q8' })) as TextGenerationPipeline;
      expect(maxAbsDiff(await logitsOf(gen, ref.ids), await logitsOf(plain, ref.ids))).toBe(0);
      await plain.dispose();
      await gen.loadAdapter('peft', readPeftAdapterFolder(optimumPath('llama-gqa-tied', 'adapter')));
      gen.setAdapter('peft');
      // q8 of random weights moves the logits a lot (reference/README.md): the adapter must change them, that is all here.
      expect(maxAbsDiff(await logitsOf(gen, ref.ids), ref.base)).toBeGreaterThan(0.1);
    } finally {
      await gen.dispose();
    }
  });

  it('a graph with external data (model.onnx_data) keeps it external: transformers.js fetches it beside the served graph', async () => {
    const ref = optimumRef('gpt2');
    const gen = await adapterPipeline('text-generation', EXT_REPO, { dtype: 'fp32' });
    try {
      expect(
        downloads(EXT_REPO)
          .filter((f) => f.startsWith('onnx/'))
          .sort(),
      ).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data']);
      expect(maxAbsDiff(await logitsOf(gen, ref.ids), ref.base)).toBeLessThan(1e-4);
      await gen.loadAdapter('peft', optimumPath('gpt2', 'adapter'));
      gen.setAdapter('peft');
      // PEFT's tolerance for merged logits (2e-3), as for the fixture without external data.
      expect(maxAbsDiff(await logitsOf(gen, ref.ids), ref.merged)).toBeLessThan(2e-3);
    } finally {
      await gen.dispose();
    }
  });

  it('the browser entry names the hub failure, reads a hub-id adapter from env.remoteHost, and refuses a relative path without a page', async () => {
    env.allowRemoteModels = false;
    await expect(browserAdapterPipeline('text-generation', REPO, { dtype: 'q4' })).rejects.toThrow(HubError);
    env.allowRemoteModels = true;
    await expect(browserAdapterPipeline('text-generation', REPO, { dtype: 'q4f16' })).rejects.toThrow(/HTTP 404; is the dtype available/);
    const gen = await browserAdapterPipeline('text-generation', REPO, { dtype: 'fp32' });
    try {
      await expect(gen.loadAdapter('x', './adapter')).rejects.toThrow(/relative and there is no page/);
      await gen.loadAdapter('peft', ADAPTER_REPO);
      gen.setAdapter('peft');
      const ref = optimumRef('llama-gqa-tied');
      // PEFT's tolerance for merged logits (2e-3), as in the Node cases above.
      expect(maxAbsDiff(await logitsOf(gen, ref.ids), ref.merged)).toBeLessThan(2e-3);
    } finally {
      await gen.dispose();
    }
  });
});
