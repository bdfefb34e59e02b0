/**
 * Pins every behaviour of transformers.js that `adapterPipeline` relies on
 * beyond its documented API, so that a version that changes one fails here
 * with a message naming it (rather than as wrong logits elsewhere).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AutoModelForCausalLM, Tensor, env, type PreTrainedModel } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { storiesDir } from '../onnx/onnx-fixtures.test-helper.js';
import { DTYPE_SUFFIXES } from './model-file.js';
import { withServedModelFiles } from './served-model-files.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const require = createRequire(import.meta.url);
/** The installed package's root (its `exports` hide package.json, so walk up from the main file). */
const packageDir = ((): string => {
  let dir = dirname(require.resolve('@huggingface/transformers'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
const ids = (v: number[]): Tensor => new Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);

describe(`transformers.js ${(JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version} internals that adapterPipeline relies on`, () => {
  const models: PreTrainedModel[] = [];
  afterAll(async () => {
    for (const m of models) await m.dispose();
  });

  it('dtype → file suffix is DEFAULT_DTYPE_SUFFIX_MAPPING (utils/dtypes.js)', async () => {
    const dtypes = (await import(pathToFileURL(join(packageDir, 'src', 'utils', 'dtypes.js')).href)) as { DEFAULT_DTYPE_SUFFIX_MAPPING: Record<string, string> };
    for (const [dtype, suffix] of Object.entries(DTYPE_SUFFIXES)) expect(dtypes.DEFAULT_DTYPE_SUFFIX_MAPPING[dtype], `suffix of dtype ${dtype}`).toBe(suffix);
  });

  it('asks env.customCache for <subfolder>/<model_file_name><suffix>.onnx before the disk, and loads a Response it returns', async () => {
    const bytes = new Uint8Array(readFileSync(join(storiesDir(), 'onnx', 'model_q4.onnx')));
    const asked: string[] = [];
    const userCache = { match: async (k: string) => void asked.push(k), put: async () => undefined };
    const before = { useCustomCache: env.useCustomCache, customCache: env.customCache };
    env.useCustomCache = true;
    env.customCache = userCache;
    try {
      // No such file on disk: only the served copy can satisfy the load.
      const model = await withServedModelFiles(new Map([['onnx/model.pinned-name_q4.onnx', bytes]]), () =>
        AutoModelForCausalLM.from_pretrained(storiesDir(), { dtype: 'q4', model_file_name: 'model.pinned-name' }),
      );
      models.push(model);
      const session = (model as unknown as { sessions: Record<string, { inputNames: string[] }> }).sessions['model'];
      expect(session?.inputNames, 'pipeline.model.sessions.model is the ONNX session').toContain('input_ids');
      // Requests we do not serve go to the cache that was there before (here the user's), e.g. config.json.
      expect(asked.some((k) => k.endsWith('config.json'))).toBe(true);
      expect(asked.some((k) => k.includes('pinned-name'))).toBe(false);
    } finally {
      // The hook is removed after the load, and the user's cache is back.
      expect(env.customCache).toBe(userCache);
      env.useCustomCache = before.useCustomCache;
      env.customCache = before.customCache;
    }
  });

  it('forward is a prototype method, and both a direct call and each KV-cache step of generate go through it', async () => {
    const model = await AutoModelForCausalLM.from_pretrained(storiesDir(), { dtype: 'fp32' });
    models.push(model);
    expect(Object.hasOwn(model, 'forward')).toBe(false);
    const seen: string[][] = [];
    const forward = model.forward;
    Object.defineProperty(model, 'forward', {
      configurable: true,
      writable: true,
      value: (inputs: Record<string, unknown>) => {
        seen.push(Object.keys(inputs));
        return forward.call(model, inputs);
      },
    });
    await model({ input_ids: ids([1, 403]), attention_mask: ids([1, 1]) });
    expect(seen).toHaveLength(1);
    await model.generate({ input_ids: ids([1, 403, 407]), attention_mask: ids([1, 1, 1]), max_new_tokens: 4, min_new_tokens: 4, do_sample: false });
    // One forward for the prompt and one per further token, each with the KV cache.
    expect(seen.length).toBe(1 + 4);
    expect(seen.slice(2).every((keys) => keys.includes('past_key_values'))).toBe(true);
  });

  it('the decoder feeds a session every model input it names (so extra graph inputs need no patching of the session)', async () => {
    const model = models[1] as PreTrainedModel;
    const sessions = (model as unknown as { sessions: Record<string, unknown> }).sessions;
    const real = sessions['model'] as { inputNames: string[] };
    const fed: string[][] = [];
    // A stand-in session that names one more input: transformers.js must pass it through from the model inputs.
    sessions['model'] = Object.create(real, {
      inputNames: { value: [...real.inputNames, 'extra_input'] },
      run: {
        value: async (f: Record<string, unknown>) => {
          fed.push(Object.keys(f));
          throw new Error('stand-in session');
        },
      },
    }) as unknown;
    try {
      await expect(model.forward({ input_ids: ids([1, 403]), attention_mask: ids([1, 1]), extra_input: ids([0]) })).rejects.toThrow('stand-in session');
      expect(fed[0]).toContain('extra_input');
      expect(fed[0]).toContain('past_key_values.0.key');
    } finally {
      sessions['model'] = real;
    }
  });
});
