/**
 * PEFT adapter files without a file system: read the two files of PEFT's
 * `save_pretrained` from Blobs/Files (an `<input type=file multiple>`), a
 * folder URL, or a `FileSystemDirectoryHandle` (OPFS, the File System Access
 * API); produce them as Blobs (download, IndexedDB) or write them into a
 * directory handle. Browser-safe: no Node built-ins (the Node folder reader
 * and writer are in `@tsd-peft/core/node`).
 */
import { ConfigError, HubError, TsdError } from './errors.js';
import { parsePeftAdapter, serializePeftAdapter, type PeftAdapter, type SerializePeftAdapterOptions } from './peft-adapter.js';

/** File names PEFT's `save_pretrained` uses inside an adapter folder. */
export const PEFT_CONFIG_FILE = 'adapter_config.json';
/** See {@link PEFT_CONFIG_FILE}. */
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** The contents of one adapter file: a Blob/File, bytes, or (for the config) text. */
export type PeftAdapterFileData = Blob | Uint8Array | ArrayBuffer | string;

/** The two files of a PEFT adapter, by their PEFT names. */
export interface PeftAdapterFiles {
  readonly [PEFT_CONFIG_FILE]: PeftAdapterFileData;
  readonly [PEFT_WEIGHTS_FILE]: PeftAdapterFileData;
}

/** The two files as Blobs, as {@link peftAdapterBlobs} returns them. */
export interface PeftAdapterBlobs {
  readonly [PEFT_CONFIG_FILE]: Blob;
  readonly [PEFT_WEIGHTS_FILE]: Blob;
}

/** The part of `FileSystemDirectoryHandle` (OPFS, File System Access API) used here. */
export interface AdapterDirectoryHandle {
  readonly name: string;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<AdapterFileHandle>;
}

/** The part of `FileSystemFileHandle` used here. */
export interface AdapterFileHandle {
  getFile(): Promise<Blob>;
  createWritable(): Promise<{ write(data: Blob): Promise<void>; close(): Promise<void>; abort?(reason?: unknown): Promise<void> }>;
}

/**
 * Where {@link readPeftAdapter} finds an adapter: the two files by name
 * ({@link PeftAdapterFiles}), a list of `File`s (a `FileList` or array, matched
 * by `name`), a directory handle, or the URL of a folder (a `URL`, or an
 * absolute URL string such as `https://…/adapter/`; resolve relative ones
 * first, e.g. `new URL('./adapter/', location.href)`).
 */
export type PeftAdapterSource = PeftAdapterFiles | Iterable<File> | ArrayLike<File> | AdapterDirectoryHandle | URL | string;

/** Options of {@link readPeftAdapter}. */
export interface ReadPeftAdapterOptions {
  /** The fetch used for URLs (default `globalThis.fetch`); the same shape as transformers' `HubFetch`. */
  readonly fetch?: (url: string, init: { headers: Record<string, string> }) => Promise<Pick<Response, 'status' | 'arrayBuffer'>>;
  /** How errors name the adapter (default: the URL, the directory name, or nothing). */
  readonly label?: string;
}

const FILE_NAMES = [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE] as const;

function isDirectoryHandle(x: unknown): x is AdapterDirectoryHandle {
  return typeof x === 'object' && x !== null && typeof (x as { getFileHandle?: unknown }).getFileHandle === 'function';
}

function isFileList(x: unknown): x is Iterable<File> | ArrayLike<File> {
  if (typeof x !== 'object' || x === null || PEFT_CONFIG_FILE in x) return false;
  return Symbol.iterator in x || typeof (x as { length?: unknown }).length === 'number';
}

async function bytesOf(data: PeftAdapterFileData): Promise<Uint8Array> {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(await data.arrayBuffer());
}

function where(label: string | undefined, file: string): string {
  if (label === undefined) return file;
  return label.endsWith('/') ? `${label}${file}` : `${label}/${file}`;
}

/** Parses the two files; `label` names the folder in errors. */
async function parseFiles(files: PeftAdapterFiles, label: string | undefined): Promise<PeftAdapter> {
  for (const name of FILE_NAMES) {
    const data = (files as unknown as Record<string, unknown>)[name];
    if (data === undefined || data === null) throw new ConfigError(`the adapter lacks ${name}`, { file: where(label, name) });
  }
  const configJson = new TextDecoder('utf-8', { fatal: false }).decode(await bytesOf(files[PEFT_CONFIG_FILE]));
  return parsePeftAdapter(configJson, await bytesOf(files[PEFT_WEIGHTS_FILE]), label);
}

async function fetchFiles(url: string, options: ReadPeftAdapterOptions): Promise<PeftAdapterFiles> {
  const get = options.fetch ?? ((u: string, init: { headers: Record<string, string> }) => globalThis.fetch(u, init));
  const base = url.endsWith('/') ? url : `${url}/`;
  const out: Record<string, Uint8Array> = {};
  for (const name of FILE_NAMES) {
    const fileUrl = new URL(name, base).href;
    let response: Pick<Response, 'status' | 'arrayBuffer'>;
    try {
      response = await get(fileUrl, { headers: {} });
    } catch (cause) {
      throw new HubError(`could not fetch the adapter file: ${(cause as Error).message}`, { repoId: base, failure: 'unreachable' }, { file: fileUrl }, { cause });
    }
    if (response.status < 200 || response.status > 299) {
      throw new HubError(`GET answered ${response.status}`, { repoId: base, failure: 'http', status: response.status }, { file: fileUrl });
    }
    out[name] = new Uint8Array(await response.arrayBuffer());
  }
  return out as unknown as PeftAdapterFiles;
}

async function directoryFiles(dir: AdapterDirectoryHandle, label: string): Promise<PeftAdapterFiles> {
  const out: Record<string, Blob> = {};
  for (const name of FILE_NAMES) {
    try {
      out[name] = await (await dir.getFileHandle(name)).getFile();
    } catch (cause) {
      throw new ConfigError(`could not read the adapter file: ${(cause as Error).message}`, { file: where(label, name) }, { cause });
    }
  }
  return out as unknown as PeftAdapterFiles;
}

function fileListFiles(list: Iterable<File> | ArrayLike<File>): PeftAdapterFiles {
  const byName = new Map<string, File>();
  for (const f of Symbol.iterator in list ? (list as Iterable<File>) : Array.from(list as ArrayLike<File>)) byName.set(f.name, f);
  const out: Record<string, File> = {};
  for (const name of FILE_NAMES) {
    const f = byName.get(name);
    if (f === undefined) {
      throw new ConfigError(`the selected files lack ${name} (got ${[...byName.keys()].join(', ') || 'none'})`, { file: name });
    }
    out[name] = f;
  }
  return out as unknown as PeftAdapterFiles;
}

/**
 * Reads a PEFT LoRA adapter (the `adapter_config.json` +
 * `adapter_model.safetensors` pair PEFT's `save_pretrained` writes) from
 * files in memory, a `FileList`, a directory handle or a folder URL — the
 * browser's ways of holding files. Runs in any JS runtime. Errors name the
 * file: a missing file or failed read is a {@link ConfigError} (a failed
 * fetch a {@link HubError}), malformed contents the errors of
 * `parsePeftAdapter`. For folders and hub ids use `loadPeftAdapter` of
 * `@tsd-peft/transformers`.
 */
export async function readPeftAdapter(source: PeftAdapterSource, options: ReadPeftAdapterOptions = {}): Promise<PeftAdapter> {
  if (typeof source === 'string' || source instanceof URL) {
    const url = typeof source === 'string' ? source : source.href;
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) {
      throw new ConfigError(`"${url}" is not an absolute URL; resolve it first (new URL(path, location.href)) or read a folder with @tsd-peft/transformers' loadPeftAdapter`, { file: url });
    }
    return parseFiles(await fetchFiles(url, options), options.label ?? url.replace(/\/$/, ''));
  }
  if (isDirectoryHandle(source)) {
    const label = options.label ?? source.name;
    return parseFiles(await directoryFiles(source, label), label);
  }
  if (isFileList(source)) return parseFiles(fileListFiles(source), options.label);
  return parseFiles(source as PeftAdapterFiles, options.label);
}

/**
 * The two files of a PEFT adapter as Blobs — for a download link
 * (`URL.createObjectURL`), IndexedDB (Blobs are structured-cloneable) or an
 * upload. The same bytes `savePeftAdapter` of `@tsd-peft/core/node` writes.
 */
export function peftAdapterBlobs(adapter: PeftAdapter, options?: SerializePeftAdapterOptions): PeftAdapterBlobs {
  const { configJson, weights } = serializePeftAdapter(adapter, options);
  return {
    [PEFT_CONFIG_FILE]: new Blob([configJson], { type: 'application/json' }),
    [PEFT_WEIGHTS_FILE]: new Blob([weights as BlobPart], { type: 'application/octet-stream' }),
  };
}

/**
 * Writes a PEFT adapter into a directory handle (OPFS via
 * `navigator.storage.getDirectory()`, or a folder the user picked). Each
 * file goes through a writable stream, which replaces the file only on
 * `close()`; the weights are written before the config, so a reader that
 * finds the new config also finds the new weights.
 */
export async function savePeftAdapterToDirectory(dir: AdapterDirectoryHandle, adapter: PeftAdapter, options?: SerializePeftAdapterOptions): Promise<void> {
  const blobs = peftAdapterBlobs(adapter, options);
  for (const name of [PEFT_WEIGHTS_FILE, PEFT_CONFIG_FILE] as const) {
    let writable: Awaited<ReturnType<AdapterFileHandle['createWritable']>> | undefined;
    try {
      writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await writable.write(blobs[name]);
      await writable.close();
    } catch (cause) {
      await writable?.abort?.(cause).catch(() => undefined);
      throw new TsdError(`could not write the adapter file: ${(cause as Error).message}`, { file: where(dir.name, name) }, 'TSD_ERROR', { cause });
    }
  }
}
