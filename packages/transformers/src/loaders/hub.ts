import { existsSync, mkdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { env } from '@huggingface/transformers';
import { ConfigError, HubError } from '@tsd-peft/core';
import { writeFileAtomic } from '@tsd-peft/core/node';
import { isHubModelId, remoteUrl } from './hub-url.js';

export { isHubModelId };

/**
 * Where a model's files come from: a local folder, or a Hugging Face hub
 * repository resolved the way transformers.js resolves it (its
 * `env.localModelPath`, its file cache under `env.cacheDir`, then
 * `env.remoteHost`), so files fetched here and by transformers.js share one
 * cache and honour the same switches.
 */
export interface ModelFileSource {
  /** The folder path or the repo id. */
  readonly location: string;
  /** True for a local folder. */
  readonly isLocal: boolean;
  /** How errors name `file` (a path, or `hub:<repo>/<file>@<revision>`). */
  describe(file: string): string;
  /** The bytes of `file` (relative, `/`-separated), or null when it does not exist. */
  read(file: string): Promise<Uint8Array | null>;
}

/** Options for hub resolution; defaults come from transformers.js `env`. */
export interface HubOptions {
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** File cache folder (default `env.cacheDir`). */
  cacheDir?: string;
  /** Never touch the network (as `local_files_only` / `env.allowRemoteModels = false`). */
  localFilesOnly?: boolean;
  /** The fetch used for downloads (default `env.fetch`): a proxy-aware fetch, or a stand-in hub in tests. */
  fetch?: HubFetch;
}

/** The part of `fetch` the hub client uses. */
export type HubFetch = (url: string, init: { headers: Record<string, string> }) => Promise<Pick<Response, 'status' | 'arrayBuffer'>>;

/** A {@link ModelFileSource} over a local folder. */
export function localFolderSource(dir: string): ModelFileSource {
  const root = resolve(dir);
  return {
    location: root,
    isLocal: true,
    describe: (file) => join(root, file),
    read: async (file) => readIfExists(join(root, file)),
  };
}

/**
 * A {@link ModelFileSource} over hub repo `repoId`. Lookup order per file:
 * `env.localModelPath/<repo>/<file>` (when `env.allowLocalModels`), the file
 * cache (`<cacheDir>/<repo>/<file>`, or `<repo>/<revision>/<file>` off main,
 * transformers.js's layout), then a download from `env.remoteHost` when remote
 * loading is allowed, written atomically into the cache.
 */
export function hubSource(repoId: string, options: HubOptions = {}): ModelFileSource {
  const revision = options.revision ?? 'main';
  return {
    location: repoId,
    isLocal: false,
    describe: (file) => `hub:${repoId}/${file}@${revision}`,
    read: async (file) => {
      const local = localHubPath(repoId, file, options);
      if (local !== null) return readIfExists(local);
      if (!remoteAllowed(options)) return null;
      const bytes = await download(remoteUrl(repoId, revision, file), repoId, `hub:${repoId}/${file}@${revision}`, options);
      const cachePath = hubCachePath(repoId, file, options);
      if (bytes !== null && cachePath !== null) cacheWrite(cachePath, bytes);
      return bytes;
    },
  };
}

/**
 * The local path of hub file `file` in `repoId`, found as {@link hubSource}
 * finds it (`env.localModelPath`, the cache, else downloaded into the cache),
 * for files that are opened by path rather than read as bytes (a llama2.c
 * checkpoint). Null when the hub has no such file (HTTP 404); a
 * {@link HubError} when it is not local and downloads are off.
 *
 * ```ts
 * const bin = await hubFilePath('karpathy/tinyllamas', 'stories260K/stories260K.bin');
 * ```
 */
export async function hubFilePath(repoId: string, file: string, options: HubOptions = {}): Promise<string | null> {
  const local = localHubPath(repoId, file, options);
  if (local !== null) return local;
  if (!remoteAllowed(options)) throw offlineMissingError(repoId, file, options);
  const revision = options.revision ?? 'main';
  const what = `hub:${repoId}/${file}@${revision}`;
  const cachePath = hubCachePath(repoId, file, options);
  if (cachePath === null) {
    throw new ConfigError('cannot keep a downloaded file: env.useFSCache is off or env.cacheDir is unset', { file: what });
  }
  const bytes = await download(remoteUrl(repoId, revision, file), repoId, what, options);
  if (bytes === null) return null;
  cacheWrite(cachePath, bytes);
  return cachePath;
}

/** Where `file` is cached, transformers.js's layout; null when the file cache is off. */
function hubCachePath(repoId: string, file: string, options: HubOptions): string | null {
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? env.cacheDir;
  if (!env.useFSCache || !cacheDir) return null;
  return join(cacheDir, revision === 'main' ? `${repoId}/${file}` : `${repoId}/${revision}/${file}`);
}

/** The first existing local copy of `file`: `env.localModelPath/<repo>/<file>`, then the cache. */
function localHubPath(repoId: string, file: string, options: HubOptions): string | null {
  if (env.allowLocalModels && env.localModelPath) {
    const local = join(env.localModelPath, repoId, file);
    if (isFile(local)) return local;
  }
  const cached = hubCachePath(repoId, file, options);
  return cached !== null && isFile(cached) ? cached : null;
}

function cacheWrite(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, bytes);
}

/** Whether hub downloads are allowed under `options` and transformers.js `env`. */
export function remoteAllowed(options: HubOptions = {}): boolean {
  return env.allowRemoteModels && options.localFilesOnly !== true;
}

/**
 * The error for a hub file that is neither local nor cached while downloads
 * are off: it says which switch is off and how to use a local folder instead.
 */
export function offlineMissingError(repoId: string, file: string, options: HubOptions = {}, cause?: unknown): HubError {
  const why = options.localFilesOnly === true ? 'localFilesOnly is set' : 'env.allowRemoteModels is false';
  return new HubError(
    `"${repoId}" is not in the local cache and ${why}, so it cannot be downloaded. ` +
      'Pass the path of a local folder holding config.json and model.safetensors (or a llama2.c .bin), ' +
      `point env.cacheDir at a cache that holds it (now ${String(env.cacheDir)}), or allow remote models`,
    { repoId, failure: 'offline' },
    { file: `hub:${repoId}/${file}@${options.revision ?? 'main'}` },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The {@link HubError} for a transformers.js loader (`AutoConfig`,
 * `AutoTokenizer`) that failed on hub file `file`: offline when downloads are
 * off, unreachable when the request never got an answer; null for other
 * failures (a malformed file), which the caller reports in its own terms.
 */
export function hubLoadError(repoId: string, file: string, options: HubOptions, cause: unknown): HubError | null {
  if (!remoteAllowed(options)) return offlineMissingError(repoId, file, options, cause);
  if (!isNetworkFailure(cause)) return null;
  return new HubError(
    `could not reach ${env.remoteHost} (${(cause as Error).message}); pass a local folder instead when offline`,
    { repoId, failure: 'unreachable' },
    { file: `hub:${repoId}/${file}@${options.revision ?? 'main'}` },
    { cause },
  );
}

/** `fetch` rejects with a TypeError ("fetch failed") when no HTTP answer came: DNS, refused, reset, timeout. */
function isNetworkFailure(cause: unknown): boolean {
  return cause instanceof TypeError && /fetch failed|network/i.test(cause.message);
}

async function download(url: string, repoId: string, what: string, options: HubOptions): Promise<Uint8Array | null> {
  const headers: Record<string, string> = { 'User-Agent': `tsd-peft (transformers.js/${env.version})` };
  const token = process.env['HF_TOKEN'] ?? process.env['HF_ACCESS_TOKEN'];
  if (token !== undefined && /^https:\/\/(huggingface\.co|hf\.co)\//.test(url)) headers['Authorization'] = `Bearer ${token}`;
  let response: Pick<Response, 'status' | 'arrayBuffer'>;
  try {
    response = await (options.fetch ?? env.fetch)(url, { headers });
  } catch (cause) {
    throw new HubError(`download failed (${(cause as Error).message}); pass a local folder instead when offline`, { repoId, failure: 'unreachable' }, { file: what }, { cause });
  }
  if (response.status === 404) return null;
  if (response.status !== 200) {
    const hint = response.status === 401 || response.status === 403 ? ' (gated or private: set HF_TOKEN)' : '';
    throw new HubError(`download returned HTTP ${response.status}${hint}`, { repoId, failure: 'http', status: response.status }, { file: what });
  }
  return new Uint8Array(await response.arrayBuffer());
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

async function readIfExists(path: string): Promise<Uint8Array | null> {
  if (!isFile(path)) return null;
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
