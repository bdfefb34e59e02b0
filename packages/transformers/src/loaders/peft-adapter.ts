/**
 * `loadPeftAdapter` for Node (`@tsd-peft/transformers`): a PEFT adapter from
 * a local folder, a hub repo id (through transformers.js's env and file
 * cache, as models are), a URL, or Blobs/Files.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, parsePeftAdapter, readPeftAdapter, type PeftAdapter, type PeftAdapterSource, type ReadPeftAdapterOptions } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { hubSource, offlineMissingError, remoteAllowed, type HubOptions } from './hub.js';
import { isHubModelId } from './hub-id.js';

/** Options of {@link loadPeftAdapter}: hub options apply to repo ids. */
export interface LoadPeftAdapterOptions extends HubOptions, Omit<ReadPeftAdapterOptions, 'fetch'> {
  /** Folder inside the adapter folder or hub repo that holds the two files. */
  readonly subfolder?: string;
}

async function readHub(repoId: string, options: LoadPeftAdapterOptions): Promise<PeftAdapter> {
  const hub = hubSource(repoId, options);
  const prefix = options.subfolder === undefined || options.subfolder === '' ? '' : `${options.subfolder.replace(/^\/|\/$/g, '')}/`;
  const files: Uint8Array[] = [];
  for (const name of [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]) {
    const bytes = await hub.read(`${prefix}${name}`);
    if (bytes === null) {
      if (!remoteAllowed(options)) throw offlineMissingError(repoId, `${prefix}${name}`, options);
      throw new ConfigError(`no local folder ${repoId}, and the hub repo has no ${name}; is it a PEFT adapter?`, { file: hub.describe(`${prefix}${name}`) });
    }
    files.push(bytes);
  }
  return parsePeftAdapter(new TextDecoder().decode(files[0]), files[1] as Uint8Array, `hub:${repoId}/${prefix.replace(/\/$/, '')}`.replace(/\/$/, ''));
}

/**
 * Loads a PEFT LoRA adapter — the `adapter_config.json` +
 * `adapter_model.safetensors` pair of PEFT's `save_pretrained`, as
 * `PeftModel.from_pretrained` takes it — from:
 * - a local folder path (or `file:` URL);
 * - a hub repo id (`owner/name`), found as transformers.js finds models
 *   (`env.localModelPath`, its file cache, then `env.remoteHost`);
 * - an `http(s):` folder URL, the two files as Blobs/bytes, a `FileList` or a
 *   directory handle (core's `readPeftAdapter`).
 * An existing folder wins over a repo id of the same spelling. Errors name
 * the file; hub failures are `HubError`s.
 *
 * ```ts
 * const adapter = await loadPeftAdapter('runs/dash/adapter');
 * ```
 */
export async function loadPeftAdapter(source: PeftAdapterSource, options: LoadPeftAdapterOptions = {}): Promise<PeftAdapter> {
  if (typeof source !== 'string' && !(source instanceof URL)) return readPeftAdapter(source, options);
  const text = typeof source === 'string' ? source : source.href;
  const sub = (dir: string) => (options.subfolder === undefined || options.subfolder === '' ? dir : join(dir, options.subfolder));
  if (text.startsWith('file:')) return readPeftAdapterFolder(sub(fileURLToPath(text)));
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text)) {
    const url = options.subfolder === undefined ? text : new URL(`${options.subfolder.replace(/^\/|\/$/g, '')}/`, text.endsWith('/') ? text : `${text}/`).href;
    return readPeftAdapter(url, options);
  }
  if (existsSync(text) && statSync(text).isDirectory()) return readPeftAdapterFolder(sub(text));
  if (isHubModelId(text) && !text.startsWith('.')) return readHub(text, options);
  throw new ConfigError(`no adapter folder at ${text}, and it is not a hub repo id or URL`, { file: text });
}
