/**
 * A hub repo id as a transformers.js model folder: every file of the
 * transformers.js layout (config, tokenizer files, each `onnx/` dtype variant
 * and its external data) is fetched into transformers.js's own file cache
 * (`env.cacheDir`, same layout, `env.remoteHost` / `env.remotePathTemplate`,
 * `HF_TOKEN`) through {@link hubSource}; the cached repo folder is then used
 * like a local one. Files already cached are not downloaded again.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { env } from '@huggingface/transformers';
import { ConfigError, HubError, TsdError } from '@tsd-peft/core';
import { externalDataFiles } from '../onnx/model-folder.js';
import { parseOnnxModel } from '../onnx/onnx-model.js';
import { hubSource, isHubModelId, offlineMissingError, remoteAllowed, type HubOptions } from './hub.js';

/** Top-level files of a transformers.js repo that a derived folder keeps (absent ones are skipped). */
export const TRANSFORMERS_JS_FILES: readonly string[] = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'added_tokens.json',
];

/** The `onnx/` files transformers.js picks by dtype (fp32, fp16, q8/int8/uint8, q4/q4f16, bnb4). */
export const ONNX_DTYPE_FILES: readonly string[] = [
  'model.onnx',
  'model_fp16.onnx',
  'model_quantized.onnx',
  'model_int8.onnx',
  'model_uint8.onnx',
  'model_q4.onnx',
  'model_q4f16.onnx',
  'model_bnb4.onnx',
];

/** Options of {@link resolveModelFolder}. */
export interface ResolveModelFolderOptions extends HubOptions {
  /** Receives one line per file fetched from the hub (e.g. the CLI's stderr). */
  progress?: (line: string) => void;
  /** Fetch only these `onnx/` files of a hub repo (default: every dtype variant of {@link ONNX_DTYPE_FILES}). */
  onnxFiles?: readonly string[];
}

/**
 * A local folder as is, a hub repo id found under `env.localModelPath` (when
 * `env.allowLocalModels`), or a hub repo id made available as its folder in
 * transformers.js's cache (see the file comment). Throws {@link ConfigError}
 * for a path that neither exists nor is a hub id, and a {@link TsdError}
 * naming the id and how to pass a local folder when the hub cannot be reached
 * (or downloads are off) and the cache lacks the repo.
 */
export async function resolveModelFolder(idOrPath: string, options: ResolveModelFolderOptions = {}): Promise<string> {
  if (existsSync(idOrPath)) {
    if (!statSync(idOrPath).isDirectory()) throw new ConfigError('expected a transformers.js model folder, got a file', { file: idOrPath });
    return resolve(idOrPath);
  }
  if (!isHubModelId(idOrPath)) throw new ConfigError('model folder not found, and not a hub model id', { file: idOrPath });
  // transformers.js looks in env.localModelPath/<id> first; a folder there is used as it stands.
  const local = env.allowLocalModels && env.localModelPath ? join(env.localModelPath, idOrPath) : null;
  if (local !== null && existsSync(join(local, 'config.json'))) return resolve(local);
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? env.cacheDir;
  if (!env.useFSCache || cacheDir === null || cacheDir === undefined || cacheDir === '') {
    throw new ConfigError(`hub id "${idOrPath}" needs transformers.js's file cache (env.useFSCache and env.cacheDir) to hold the downloaded folder`, { file: idOrPath });
  }
  const folder = revision === 'main' ? join(cacheDir, idOrPath) : join(cacheDir, idOrPath, revision);
  const source = hubSource(idOrPath, { ...options, cacheDir });
  const fetchFile = async (file: string): Promise<Uint8Array | null> => {
    const cached = existsSync(join(folder, file));
    let bytes: Uint8Array | null;
    try {
      bytes = await source.read(file);
    } catch (cause) {
      // Still a HubError, with the download's failure and status, so front ends can say what to do.
      if (!(cause instanceof HubError)) throw cause;
      throw new HubError(
        `cannot fetch "${idOrPath}" from ${env.remoteHost} (${cause.message}). ` +
          'When offline, pass a local transformers.js folder (config.json, tokenizer files, onnx/model.onnx) instead of the hub id, ' +
          `or point env.cacheDir at a cache that holds it (now ${cacheDir})`,
        { repoId: cause.repoId, failure: cause.failure, ...(cause.status === undefined ? {} : { status: cause.status }) },
        { file: source.describe(file) },
        { cause },
      );
    }
    if (bytes !== null && !cached) options.progress?.(`downloaded ${source.describe(file)} (${(bytes.length / 2 ** 20).toFixed(2)} MiB) → ${join(folder, file)}`);
    return bytes;
  };
  if ((await fetchFile('config.json')) === null) {
    if (!remoteAllowed(options)) throw offlineMissingError(idOrPath, 'config.json', options);
    throw new TsdError(`hub repo "${idOrPath}" has no config.json (not a transformers.js model?)`, { file: source.describe('config.json') });
  }
  for (const file of TRANSFORMERS_JS_FILES.slice(1)) await fetchFile(file);
  let models = 0;
  for (const name of options.onnxFiles ?? ONNX_DTYPE_FILES) {
    const bytes = await fetchFile(`onnx/${name}`);
    if (bytes === null) continue;
    models++;
    for (const loc of externalDataFiles(parseOnnxModel(bytes, source.describe(`onnx/${name}`)))) {
      if ((await fetchFile(`onnx/${loc}`)) === null) throw new TsdError(`external data file "${loc}" of onnx/${name} is missing on the hub`, { file: source.describe(`onnx/${loc}`) });
    }
  }
  if (models === 0) {
    if (!remoteAllowed(options)) throw offlineMissingError(idOrPath, 'onnx/model.onnx', options);
    throw new TsdError(`hub repo "${idOrPath}" has no onnx/model*.onnx (not a transformers.js export; @xenova 2.x decoder_model_merged layouts are not supported)`, { file: source.describe('onnx/') });
  }
  return folder;
}
