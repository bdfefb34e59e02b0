/**
 * `loadPeftAdapter` for browsers (`@tsd-peft/transformers/browser`): a PEFT
 * adapter from a URL, a hub repo id, Blobs/Files or a directory handle. No
 * Node built-ins; the Node entry's `loadPeftAdapter` adds local folders and
 * transformers.js's file cache.
 */
import { ConfigError, readPeftAdapter, type PeftAdapter, type PeftAdapterSource, type ReadPeftAdapterOptions } from '@tsd-peft/core';
import { isHubModelId } from './hub-id.js';

/** Options of the browser `loadPeftAdapter`. */
export interface BrowserPeftAdapterOptions extends ReadPeftAdapterOptions {
  /** Hub host for repo ids (default `https://huggingface.co/`, as transformers.js's `env.remoteHost`). */
  readonly remoteHost?: string;
  /** Branch, tag or commit of a hub repo (default `main`). */
  readonly revision?: string;
  /** Folder inside the hub repo or URL that holds the two files. */
  readonly subfolder?: string;
  /** Base for relative URLs (default `location.href`). */
  readonly baseUrl?: string;
}

/** The folder URL of a hub repo, transformers.js's `{model}/resolve/{revision}/` layout. */
export function hubAdapterUrl(repoId: string, options: Pick<BrowserPeftAdapterOptions, 'remoteHost' | 'revision' | 'subfolder'> = {}): string {
  const host = (options.remoteHost ?? 'https://huggingface.co/').replace(/\/?$/, '/');
  const sub = options.subfolder === undefined || options.subfolder === '' ? '' : `${options.subfolder.replace(/^\/|\/$/g, '')}/`;
  return `${host}${repoId}/resolve/${encodeURIComponent(options.revision ?? 'main')}/${sub}`;
}

/** A string source as a folder URL: absolute URLs as they are, `./`, `../` and `/` paths against `baseUrl`, else a hub repo id. */
export function adapterFolderUrl(source: string, options: BrowserPeftAdapterOptions = {}): string {
  const withSub = (url: string) =>
    options.subfolder === undefined || options.subfolder === '' ? url : new URL(`${options.subfolder.replace(/^\/|\/$/g, '')}/`, url.endsWith('/') ? url : `${url}/`).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) return withSub(source);
  if (/^\.{0,2}\//.test(source)) {
    const base = options.baseUrl ?? (globalThis as { location?: { href: string } }).location?.href;
    if (base === undefined) throw new ConfigError(`"${source}" is relative and there is no page to resolve it against; pass baseUrl`, { file: source });
    return withSub(new URL(source, base).href);
  }
  if (isHubModelId(source)) return hubAdapterUrl(source, options);
  throw new ConfigError(`"${source}" is neither a URL, a path starting with ./ or /, nor a hub repo id`, { file: source });
}

/**
 * Loads a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`),
 * like `PeftModel.from_pretrained`'s adapter argument, in the browser: from a
 * folder URL (`https://…/`, `./adapter/`), a hub repo id (fetched from
 * `remoteHost`), the two files as Blobs/bytes, a `FileList`, or a directory
 * handle (OPFS). Errors name the file (see core's `readPeftAdapter`).
 */
export async function loadPeftAdapter(source: PeftAdapterSource, options: BrowserPeftAdapterOptions = {}): Promise<PeftAdapter> {
  if (typeof source === 'string') return readPeftAdapter(adapterFolderUrl(source, options), options);
  return readPeftAdapter(source, options);
}
