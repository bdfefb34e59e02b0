import { existsSync, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { HubError } from '@tsd-peft/core';
import { fixturePath, hasFixture } from '@tsd-peft/core/testing';
import { hubFilePath, hubSource } from '@tsd-peft/transformers';
import { DownloadError, defaultCacheDir, offlineByEnv, type DownloadOptions } from '../hub/download.js';
import { convertSentencePieceFile } from '../sentencepiece/convert.js';

/** Where the default model comes from when neither `--model` nor the fixtures provide it. */
export const DEFAULT_HUB_MODEL = {
  repo: 'karpathy/tinyllamas',
  checkpoint: 'stories260K/stories260K.bin',
  tokenizer: 'stories260K/tok512.model',
} as const;

/** A model to load: what to pass to `loadCausalLM`, and its tokenizer folder when separate. */
export interface ResolvedModel {
  /** Folder, `.bin` path or hub id. */
  spec: string;
  /** `--model`, `fixtures` or `hub-cache`. */
  source: '--model' | 'fixtures' | 'hub-cache';
  /** A folder holding tokenizer.json when the model has none of its own (llama2.c). */
  tokenizer?: string;
}

/**
 * Options of {@link resolveModel}. `cacheDir` holds converted tokenizers, and
 * when set also replaces transformers.js's `env.cacheDir` for hub files;
 * `offline` (default: `HF_HUB_OFFLINE`/`TSD_OFFLINE`) acts as `localFilesOnly`.
 */
export interface ResolveModelOptions extends DownloadOptions {
  model?: string | null;
  tokenizer?: string | null;
}

/** A tokenizer folder for `path`: the folder itself, or a SentencePiece `.model` converted into the cache. */
function tokenizerFolder(path: string, cacheDir: string): string {
  if (statSync(path).isDirectory()) return path;
  const digest = createHash('sha256')
    .update(resolve(path))
    .update(String(statSync(path).mtimeMs))
    .digest('hex')
    .slice(0, 16);
  const out = join(cacheDir, 'tokenizers', `${basename(path).replace(/\.model$/, '')}-${digest}`);
  if (!existsSync(join(out, 'tokenizer.json'))) convertSentencePieceFile(path, out);
  return out;
}

/** A tokenizer beside a llama2.c checkpoint: tokenizer.json in its folder, or a `*.model` SentencePiece file. */
function tokenizerBeside(bin: string): string | undefined {
  const dir = dirname(bin);
  if (existsSync(join(dir, 'tokenizer.json'))) return dir;
  const sp = readdirSync(dir)
    .filter((f) => f.endsWith('.model'))
    .sort();
  return sp.length > 0 ? join(dir, sp[0] as string) : undefined;
}

/**
 * Resolves the bench model, in the issue's order: (1) `--model` (with
 * `--tokenizer`, or a tokenizer found beside a llama2.c `.bin`); (2) the
 * stories260K HF folder in the fixtures (`TSD_FIXTURES` or `../shared`);
 * (3) `karpathy/tinyllamas` `stories260K.bin` + `tok512.model` through
 * transformers' hub client (transformers.js's `env.localModelPath`, cache and
 * `env.remoteHost`), the SentencePiece model converted to a transformers.js
 * tokenizer.json in the bench cache. Offline without fixtures or cache, (3)
 * fails with a message naming the hub file and the alternatives.
 */
export async function resolveModel(options: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const explicitTokenizer = options.tokenizer ?? null;
  if (options.model !== undefined && options.model !== null) {
    const spec = options.model;
    let tokenizer = explicitTokenizer ?? undefined;
    if (tokenizer === undefined && spec.endsWith('.bin') && existsSync(spec)) tokenizer = tokenizerBeside(spec);
    return { spec, source: '--model', ...(tokenizer === undefined ? {} : { tokenizer: tokenizerFolder(tokenizer, cacheDir) }) };
  }
  if (hasFixture('reference', 'hf', 'stories260K', 'config.json')) {
    const spec = fixturePath('reference', 'hf', 'stories260K');
    return { spec, source: 'fixtures', ...(explicitTokenizer === null ? {} : { tokenizer: tokenizerFolder(explicitTokenizer, cacheDir) }) };
  }
  const { repo, checkpoint, tokenizer } = DEFAULT_HUB_MODEL;
  const bin = await hubFile(repo, checkpoint, options);
  const sp = await hubFile(repo, tokenizer, options);
  const tokDir = join(cacheDir, 'models', repo.replace('/', '--'), 'stories260K', 'tokenizer');
  if (!existsSync(join(tokDir, 'tokenizer.json'))) convertSentencePieceFile(sp, tokDir);
  return { spec: bin, source: 'hub-cache', tokenizer: explicitTokenizer === null ? tokDir : tokenizerFolder(explicitTokenizer, cacheDir) };
}

/** One hub file's local path via transformers' hub client, with the bench's offline switches and hint. */
async function hubFile(repo: string, file: string, options: ResolveModelOptions): Promise<string> {
  const hint = 'pass --model, or set TSD_FIXTURES to a folder with reference/hf/stories260K';
  const hubOptions = {
    localFilesOnly: options.offline ?? offlineByEnv(),
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(options.fetchImpl === undefined ? {} : { fetch: options.fetchImpl }),
  };
  const what = hubSource(repo).describe(file);
  let path: string | null;
  try {
    path = await hubFilePath(repo, file, hubOptions);
  } catch (error) {
    if (!(error instanceof HubError && error.failure === 'offline')) throw error;
    const why = hubOptions.localFilesOnly ? 'offline mode (HF_HUB_OFFLINE/TSD_OFFLINE)' : 'downloads are off (env.allowRemoteModels)';
    throw new DownloadError(`${why}: cannot download ${what}; ${hint}`, {}, 'TSD_ERROR', { cause: error });
  }
  if (path === null) throw new DownloadError(`the hub has no ${what} (HTTP 404); ${hint}`);
  return path;
}
