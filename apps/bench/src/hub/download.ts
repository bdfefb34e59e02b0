import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsdError } from '@tsd-peft/core';
import { writeFileAtomic } from '@tsd-peft/core/node';

// Downloads of dataset files from hosts other than the model hub (GitHub,
// hub datasets, the datasets-server API). Model files go through
// @tsd-peft/transformers' hub client instead (transformers.js's cache and env).

/**
 * The fetch signature the downloader needs (injectable for tests). It also
 * fits transformers' `HubFetch`, so one stand-in serves hub and dataset files.
 */
export type FetchLike = (
  url: string,
  init: { signal?: AbortSignal; headers?: Record<string, string> },
) => Promise<{
  ok: boolean;
  status: number;
  statusText: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

/** Options of {@link cachedDownload}. */
export interface DownloadOptions {
  /** Cache root; default {@link defaultCacheDir}. */
  cacheDir?: string;
  /** Whole-request timeout in ms (default 120 s): a dead network fails, never hangs. */
  timeoutMs?: number;
  fetchImpl?: FetchLike;
  /** Skip the network entirely (default: `HF_HUB_OFFLINE` or `TSD_OFFLINE` set to 1/true). */
  offline?: boolean;
  /** What to tell the user to do instead, appended to the error. */
  hint?: string;
}

/** `$TSD_CACHE`, else `$XDG_CACHE_HOME/tsd-peft`, else `~/.cache/tsd-peft`. */
export function defaultCacheDir(): string {
  const env = process.env['TSD_CACHE'];
  if (env !== undefined && env !== '') return env;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'tsd-peft');
}

/** True when `HF_HUB_OFFLINE` or `TSD_OFFLINE` asks for no network. */
export function offlineByEnv(): boolean {
  return ['HF_HUB_OFFLINE', 'TSD_OFFLINE'].some((k) => ['1', 'true', 'yes'].includes((process.env[k] ?? '').toLowerCase()));
}

/** A download failed or was not allowed; the message says what to do instead. */
export class DownloadError extends TsdError {}

/**
 * Returns `<cacheDir>/<relPath>`, downloading `url` there first when absent.
 * The file is written atomically, so an interrupted download leaves no
 * partial file to be mistaken for a cached one. Offline (or on any network
 * error, HTTP error or timeout) it throws {@link DownloadError} naming the URL,
 * the cache path and the hint.
 */
export async function cachedDownload(url: string, relPath: string, options: DownloadOptions = {}): Promise<string> {
  return cachedFile(relPath, url, (get) => get(url), options);
}

/**
 * Like {@link cachedDownload}, but the cached bytes are built by `produce`
 * from one or more fetched URLs (e.g. paged API rows turned into a TSV).
 * `what` names the source in error messages.
 */
export async function cachedFile(relPath: string, what: string, produce: (get: (url: string) => Promise<Uint8Array>) => Promise<Uint8Array>, options: DownloadOptions = {}): Promise<string> {
  const dest = join(options.cacheDir ?? defaultCacheDir(), relPath);
  if (existsSync(dest)) return dest;
  const hint = options.hint === undefined ? '' : `; ${options.hint}`;
  if (options.offline ?? offlineByEnv()) {
    throw new DownloadError(`offline mode (HF_HUB_OFFLINE/TSD_OFFLINE): cannot download ${what}${hint}`, { file: dest });
  }
  const fetchImpl = options.fetchImpl ?? (fetch as unknown as FetchLike);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const get = async (url: string): Promise<Uint8Array> => {
    try {
      const response = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      return new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw new DownloadError(`could not download ${url}: ${describeNetworkError(error)}${hint}`, { file: dest }, 'TSD_ERROR', {
        cause: error,
      });
    }
  };
  const bytes = await produce(get);
  mkdirSync(dirname(dest), { recursive: true });
  writeFileAtomic(dest, bytes);
  return dest;
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message;
    return detail === undefined ? error.message : `${error.message} (${detail})`;
  }
  return String(error);
}
