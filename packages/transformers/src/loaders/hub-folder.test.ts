import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import { HubError } from '@tsd-peft/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cliErrorMessage } from '../cli/cli-messages.js';
import { runCli } from '../cli/cli-test-io.test-helper.js';
import { exportForTransformersJs } from '../export-transformers-js.js';
import { loadCausalLM } from '../load-causal-lm.js';
import { useWasmBackend } from '../models/test-backend.test-helper.js';
import { externalizeInitializers } from '../onnx/external-data.js';
import { concatBytes } from '../onnx/protobuf-wire.js';
import { maxAbsDiff } from '../onnx/onnx-fixtures.test-helper.js';
import { optimumPath, optimumRef } from '../onnx/optimum-fixtures.test-helper.js';
import { resolveModelFolder } from './hub-folder.js';
import { startHubMirror, type HubMirror } from './hub-mirror.test-helper.js';

const REPO = 'tsd-peft-test/llama-gqa-tied-ONNX';
/** GPT-2 with its fp32 weights moved to onnx/model.onnx_data (built in beforeAll). */
const EXT_REPO = 'tsd-peft-test/gpt2-external';
const tmp = mkdtempSync(join(tmpdir(), 'tsd-hub-folder-'));
const saved = { remoteHost: env.remoteHost, cacheDir: env.cacheDir, allowRemoteModels: env.allowRemoteModels, allowLocalModels: env.allowLocalModels };
let mirror: HubMirror;
let host = '';

/** The loopback mirror serves the llama fixture and a GPT-2 with external data. */
beforeAll(async () => {
  const extRoot = join(tmp, 'gpt2-external');
  cpSync(optimumPath('gpt2', 'onnx'), extRoot, { recursive: true });
  for (const f of ['model_fp16.onnx', 'model_quantized.onnx', 'model_q4.onnx']) rmSync(join(extRoot, 'onnx', f));
  const ext = externalizeInitializers(new Uint8Array(readFileSync(join(extRoot, 'onnx', 'model.onnx'))));
  writeFileSync(join(extRoot, 'onnx', 'model.onnx'), concatBytes(ext.model));
  writeFileSync(join(extRoot, 'onnx', 'model.onnx_data'), ext.data);
  const roots: Record<string, string> = { [REPO]: optimumPath('llama-gqa-tied', 'onnx'), [EXT_REPO]: extRoot };
  mirror = await startHubMirror(roots);
  host = mirror.host;
});
beforeEach(() => {
  mirror.log = [];
  env.remoteHost = host;
  env.cacheDir = join(tmp, 'cache');
  env.allowRemoteModels = true;
  env.allowLocalModels = true; // for loading the exported folders; env.localModelPath has no such repo
});
afterEach(() => Object.assign(env, saved));
afterAll(async () => {
  await mirror.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('hub ids as export bases, through a loopback mirror of the hub', () => {
  it('exports from a hub id over HTTP into transformers.js’s cache, then serves the second export from the cache', async () => {
    const lines: string[] = [];
    const out1 = join(tmp, 'out1');
    const result = await exportForTransformersJs({ base: REPO, adapter: optimumPath('llama-gqa-tied', 'adapter'), out: out1, progress: (l) => lines.push(l) });
    // Every dtype variant the repo has was fetched, merged and written.
    expect(Object.keys(result.patched).sort()).toEqual(['model.onnx', 'model_fp16.onnx', 'model_q4.onnx', 'model_quantized.onnx']);
    const got = mirror.log
      .filter((l) => l.startsWith('200'))
      .map((l) => l.slice(`200 /${REPO}/resolve/main/`.length))
      .sort();
    expect(got).toEqual([
      'config.json',
      'generation_config.json',
      'onnx/model.onnx',
      'onnx/model_fp16.onnx',
      'onnx/model_q4.onnx',
      'onnx/model_quantized.onnx',
      'special_tokens_map.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(lines.length).toBe(got.length);
    expect(lines[0]).toMatch(/^downloaded hub:tsd-peft-test\/llama-gqa-tied-ONNX\/config\.json@main \(0\.00 MiB\) → /);
    // The cache has transformers.js's layout: <cacheDir>/<repo>/<file>.
    expect(readFileSync(join(env.cacheDir!, REPO, 'onnx', 'model.onnx')).equals(readFileSync(optimumPath('llama-gqa-tied', 'onnx', 'onnx', 'model.onnx')))).toBe(true);

    // The merged fp32 export matches PEFT's merged logits (as from a local folder).
    const ref = optimumRef('llama-gqa-tied');
    const model = await AutoModelForCausalLM.from_pretrained(out1, { dtype: 'fp32' });
    const t = (v: number[]): Tensor => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
    const logits = ((await model({ input_ids: t(ref.ids), attention_mask: t(ref.ids.map(() => 1)) })) as { logits: Tensor }).logits.data as Float32Array;
    expect(maxAbsDiff(logits, ref.merged)).toBeLessThan(2e-3);
    await model.dispose();

    // Second call: nothing is downloaded again (only absent files are probed), and the result is identical.
    mirror.log = [];
    const run = await runCli(['export', '--base', REPO, '--adapter', optimumPath('llama-gqa-tied', 'adapter'), '--out', join(tmp, 'out2')]);
    expect(run.status, run.err).toBe(0);
    expect(mirror.log.filter((l) => l.startsWith('200'))).toEqual([]);
    expect(run.err).not.toMatch(/downloaded/);
    for (const f of ['model.onnx', 'model_q4.onnx']) expect(readFileSync(join(tmp, 'out2', 'onnx', f)).equals(readFileSync(join(out1, 'onnx', f))), f).toBe(true);
  });

  it('offline: one clear error naming the id and how to pass a local folder; nothing is written', async () => {
    env.cacheDir = join(tmp, 'empty-cache');
    env.remoteHost = 'http://127.0.0.1:9/'; // discard port: nothing listens
    const out = join(tmp, 'never');
    const err = await exportForTransformersJs({ base: REPO, adapter: optimumPath('llama-gqa-tied', 'adapter'), out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).failure).toBe('unreachable');
    expect(cliErrorMessage(err)).toMatch(/^could not download tsd-peft-test\/llama-gqa-tied-ONNX: http:\/\/127\.0\.0\.1:9\/ is unreachable from this machine: .+; pass the path of a local copy/);
    expect(String((err as Error).message)).toMatch(/cannot fetch "tsd-peft-test\/llama-gqa-tied-ONNX" from http:\/\/127\.0\.0\.1:9\/.*pass a local transformers\.js folder/);
    expect(existsSync(out)).toBe(false);
    env.allowRemoteModels = false;
    await expect(resolveModelFolder(REPO)).rejects.toThrow(/not in the local cache and env\.allowRemoteModels is false.*local folder/);
  });

  it('fetches external data (model.onnx_data) beside the graph, and loadCausalLM trains from the cached folder', async () => {
    const dir = await resolveModelFolder(EXT_REPO);
    expect(mirror.log.filter((l) => l.startsWith('200')).map((l) => l.slice(`200 /${EXT_REPO}/resolve/main/`.length))).toContain('onnx/model.onnx_data');
    await useWasmBackend();
    const model = await loadCausalLM(dir);
    const ref = optimumRef('gpt2');
    const logits = model.forward({ inputIds: [ref.ids] });
    expect(maxAbsDiff(logits.dataSync(), ref.base)).toBeLessThan(1e-4);
    logits.dispose();
    model.dispose();
  });

  it('a local folder is used as is, and a missing path that is not a hub id is a ConfigError', async () => {
    expect(await resolveModelFolder(optimumPath('gpt2', 'onnx'))).toBe(optimumPath('gpt2', 'onnx'));
    await expect(resolveModelFolder('./no/such/folder')).rejects.toThrow(/not found, and not a hub model id/);
    expect(mirror.log).toEqual([]);
  });
});
