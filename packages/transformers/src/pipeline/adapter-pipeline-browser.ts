/**
 * `adapterPipeline` for the browser (no Node built-ins): the model's ONNX file
 * for the dtype is read the way transformers.js reads it — under
 * `env.localModelPath` when `env.allowLocalModels`, else from
 * `env.remoteHost`, through transformers.js's browser cache (`env.cacheKey`,
 * where a download is also stored) — and a string adapter is an adapter
 * folder URL or hub id, read by the browser `loadPeftAdapter`.
 */
import { env, type PipelineType } from '@huggingface/transformers';
import { ConfigError, HubError } from '@tsd-peft/core';
import { isHubModelId, remoteUrl } from '../loaders/hub-url.js';
import { loadPeftAdapter } from '../loaders/peft-adapter-browser.js';
import { createAdapterPipeline, type AdapterPipeline, type AdapterPipelineIo, type AdapterPipelineOptions } from './adapter-pipeline.js';

type FetchLike = (url: string) => Promise<Response>;

/** The body of a 2xx answer, else the HTTP status, or `cause` when the request failed. */
async function get(fetchFn: FetchLike, url: string): Promise<{ bytes: Uint8Array } | { status?: number; cause?: unknown }> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (cause) {
    return { cause };
  }
  return response.ok ? { bytes: new Uint8Array(await response.arrayBuffer()) } : { status: response.status };
}

async function browserCache(): Promise<Cache | null> {
  const e = env as unknown as { useBrowserCache?: boolean; cacheKey?: string };
  if (e.useBrowserCache !== true || typeof caches === 'undefined') return null;
  return caches.open(e.cacheKey ?? 'transformers-cache').catch(() => null);
}

/** `<model>/<file>` as transformers.js finds it: local path first (when allowed), then the browser cache, then the hub. */
async function fetchModelFile(model: string, file: string, options: AdapterPipelineOptions): Promise<Uint8Array> {
  const fetchFn = ((env as unknown as { fetch?: FetchLike }).fetch ?? ((url: string) => fetch(url))) as FetchLike;
  const local = `${(env.localModelPath ?? '').replace(/\/$/, '')}/${model}/${file}`;
  if (env.allowLocalModels) {
    const got = await get(fetchFn, isHubModelId(model) ? local : `${model}/${file}`);
    if ('bytes' in got) return got.bytes;
  }
  if (!isHubModelId(model)) throw new ConfigError(`cannot read ${model}/${file}, and "${model}" is not a hub model id`, { file: `${model}/${file}` });
  const url = remoteUrl(model, options.revision ?? 'main', file);
  const cache = await browserCache();
  const cached = await cache?.match(url);
  if (cached !== undefined) return new Uint8Array(await cached.arrayBuffer());
  if (!env.allowRemoteModels || options.local_files_only === true) {
    throw new HubError(`${file} of "${model}" is not available locally and remote models are off`, { repoId: model, failure: 'offline' }, { file: url });
  }
  const got = await get(fetchFn, url);
  if (!('bytes' in got)) {
    const failure = got.status === undefined ? ('unreachable' as const) : ('http' as const);
    const why = got.status === undefined ? 'the hub could not be reached' : `HTTP ${got.status}; is the dtype available for it?`;
    throw new HubError(
      `cannot download ${file} of "${model}" (${why})`,
      { repoId: model, failure, ...(got.status === undefined ? {} : { status: got.status }) },
      { file: url },
      { cause: 'cause' in got ? got.cause : undefined },
    );
  }
  const bytes = got.bytes;
  await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>)).catch(() => undefined); // a full cache only costs a download
  return bytes;
}

const browserIo: AdapterPipelineIo = {
  async readModel(model, file, options) {
    return { location: model, bytes: await fetchModelFile(model, file, options) };
  },
  readAdapter: (source) => loadPeftAdapter(source, { remoteHost: env.remoteHost }),
};

/**
 * One call from a model id to a transformers.js pipeline whose adapters
 * switch at run time, in the browser (see the Node `adapterPipeline`; here
 * adapters are passed loaded). The graph is rewritten in memory.
 */
export function adapterPipeline<T extends PipelineType>(task: T, model: string, options: AdapterPipelineOptions = {}): Promise<AdapterPipeline<T>> {
  return createAdapterPipeline(task, model, options, browserIo);
}
