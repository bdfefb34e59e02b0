/**
 * Serving in-memory files to transformers.js through its public cache hook
 * (`env.useCustomCache` / `env.customCache`, a Web-Cache-like `match`/`put`):
 * transformers.js asks its cache before the file system or the network, for
 * local folders as well as hub ids (v3 and v4), so a file that exists only in
 * memory — a rewritten graph under a name no folder has — loads like any
 * other. Other requests go to a reader the load brings (the Node entry reads
 * a hub repo's files from transformers.js's file cache, which the hook hides
 * while it is on), then to the cache that was in place before (a custom one,
 * or the browser's Cache API); the hook is installed only while a load that
 * needs it runs, and such loads run one at a time.
 */
import { env } from '@huggingface/transformers';

/** The Web-Cache-like object transformers.js accepts as `env.customCache`. */
interface CacheLike {
  match(request: string): Promise<unknown>;
  put(request: string, response: Response, progress?: unknown): Promise<void>;
}

/** Request path (e.g. `onnx/model.tsd-runtime-lora-1a2b_q4.onnx`) → bytes, for every load in flight. */
const served = new Map<string, Uint8Array>();
/** Per-load readers of other files (e.g. a hub repo's files already in the file cache). */
const readers = new Set<FileReader>();

/** Bytes for a cache key, or undefined to let the next source answer. */
export type FileReader = (key: string) => Promise<Uint8Array | undefined>;
/** Loads run one after another (see the 3.x note in `match`). */
let queue: Promise<unknown> = Promise.resolve();
let saved: { useCustomCache: boolean; customCache: unknown; fallback: Promise<CacheLike | null> } | null = null;

function keyOf(request: unknown): string {
  const s = typeof request === 'string' ? request : String((request as { url?: unknown } | null)?.url ?? request);
  return s.replaceAll('\\', '/');
}

function servedBytes(request: unknown): Uint8Array | undefined {
  const key = keyOf(request);
  for (const [path, bytes] of served) if (key === path || key.endsWith(`/${path}`)) return bytes;
  return undefined;
}

/** The cache transformers.js would have used without us: the user's custom cache, else the browser's Cache API. */
async function fallbackCache(useCustomCache: boolean, customCache: unknown): Promise<CacheLike | null> {
  if (useCustomCache && customCache !== null && customCache !== undefined) return customCache as CacheLike;
  const e = env as unknown as { useBrowserCache?: boolean; cacheKey?: string };
  if (e.useBrowserCache === true && typeof caches !== 'undefined') {
    try {
      return (await caches.open(e.cacheKey ?? 'transformers-cache')) as unknown as CacheLike;
    } catch {
      return null; // as transformers.js: an inaccessible browser cache means no cache
    }
  }
  return null;
}

function response(bytes: Uint8Array): Response {
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.byteLength) } });
}

const servingCache: CacheLike = {
  async match(request) {
    // transformers.js 3.x, in Node, asks again after a hit on a model file with an undefined key
    // (utils/hub.js leaves cacheKey unset on hits): loads run one at a time, so that is the served file.
    if (request === undefined && served.size === 1) return response([...served.values()][0] as Uint8Array);
    const bytes = servedBytes(request);
    // A fresh Response per call: transformers.js may read the body twice (once to probe, once for the bytes).
    if (bytes !== undefined) return response(bytes);
    for (const read of readers) {
      const found = await read(keyOf(request));
      if (found !== undefined) return response(found);
    }
    return (await saved?.fallback)?.match(request);
  },
  async put(request, response, progress) {
    if (servedBytes(request) !== undefined) return;
    await (await saved?.fallback)?.put(request, response, progress);
  },
};

/**
 * Runs `load` (a transformers.js `pipeline(...)` or `from_pretrained(...)`)
 * while `files` are served to it from memory. Each key is a path inside the
 * model repo; pick names no real repo has (they are matched by suffix).
 * `read`, when given, answers other requests first (before the previous cache).
 */
export function withServedModelFiles<T>(files: ReadonlyMap<string, Uint8Array>, load: () => Promise<T>, read?: FileReader): Promise<T> {
  const run = queue.then(() => serve(files, load, read));
  queue = run.catch(() => undefined);
  return run;
}

async function serve<T>(files: ReadonlyMap<string, Uint8Array>, load: () => Promise<T>, read?: FileReader): Promise<T> {
  for (const path of files.keys()) if (served.has(path)) throw new Error(`internal: ${path} is already being served`);
  if (saved === null) {
    saved = { useCustomCache: env.useCustomCache, customCache: env.customCache, fallback: fallbackCache(env.useCustomCache, env.customCache) };
    env.useCustomCache = true;
    (env as unknown as { customCache: CacheLike }).customCache = servingCache;
  }
  for (const [path, bytes] of files) served.set(path, bytes);
  if (read !== undefined) readers.add(read);
  try {
    return await load();
  } finally {
    for (const path of files.keys()) served.delete(path);
    if (read !== undefined) readers.delete(read);
    if (served.size === 0 && saved !== null) {
      env.useCustomCache = saved.useCustomCache;
      (env as unknown as { customCache: unknown }).customCache = saved.customCache;
      saved = null;
    }
  }
}
