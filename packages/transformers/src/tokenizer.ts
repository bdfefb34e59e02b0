import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import * as transformers from '@huggingface/transformers';
import { AutoTokenizer, PreTrainedTokenizer } from '@huggingface/transformers';
import { ConfigError } from '@tsd-peft/core';
import { hubLoadError, hubSource, isHubModelId, offlineMissingError, remoteAllowed, type HubOptions } from './loaders/hub.js';

/** Which side padding goes on. The replicas and {@link generate} assume right padding. */
export type PaddingSide = 'left' | 'right';

/** Options of {@link Tokenizer.encodeBatch}. */
export interface EncodeBatchOptions {
  /** Add BOS/EOS as the tokenizer's post-processor does (default true). */
  addSpecialTokens?: boolean;
  /** `true` pads to the longest row, `'max_length'` to `maxLength` (default true). */
  padding?: boolean | 'max_length';
  /** Cut rows longer than `maxLength` (default: true when `maxLength` is given). */
  truncation?: boolean;
  maxLength?: number;
  /** Default: the tokenizer's {@link Tokenizer.paddingSide}, itself `right` unless set. */
  paddingSide?: PaddingSide;
}

/** Padded ids and masks, `[B][T]`, ready for a forward. */
export interface EncodedBatch {
  inputIds: number[][];
  attentionMask: number[][];
}

/**
 * A thin wrapper over a transformers.js tokenizer (`AutoTokenizer`): all
 * tokenization, batching, padding and truncation is theirs; this only fixes
 * the defaults the replicas need (right padding) and gives typed results.
 * The underlying tokenizer is {@link Tokenizer.hf}.
 */
export class Tokenizer {
  /** Padding side used by {@link Tokenizer.encodeBatch} unless overridden. */
  paddingSide: PaddingSide = 'right';

  constructor(readonly hf: PreTrainedTokenizer) {}

  /**
   * Loads `tokenizer.json` + `tokenizer_config.json` from a local folder or a
   * hub repo through `AutoTokenizer.from_pretrained`, honouring
   * `env.allowRemoteModels` and `localFilesOnly`.
   */
  static async fromPretrained(idOrPath: string, options: HubOptions = {}): Promise<Tokenizer> {
    const local = existsSync(idOrPath);
    if (!local && !isHubModelId(idOrPath)) {
      throw new ConfigError('tokenizer path does not exist and is not a hub model id', { file: idOrPath });
    }
    const location = local ? resolve(idOrPath) : idOrPath;
    if (!local && (options.cacheDir !== undefined || options.revision !== undefined)) {
      // transformers.js 4.3.2's AutoTokenizer probes tokenizer_config.json
      // without the caller's cache_dir/revision (get_tokenizer_files), so a
      // custom cache or revision fails; resolve the two files ourselves then.
      return new Tokenizer(await tokenizerFromHubFiles(idOrPath, options));
    }
    try {
      const hf = await AutoTokenizer.from_pretrained(location, {
        local_files_only: local || options.localFilesOnly === true,
        ...(options.revision === undefined ? {} : { revision: options.revision }),
        ...(options.cacheDir === undefined ? {} : { cache_dir: options.cacheDir }),
      });
      return new Tokenizer(hf);
    } catch (cause) {
      const hubError = local ? null : hubLoadError(idOrPath, 'tokenizer.json', options, cause);
      if (hubError !== null) throw hubError;
      throw new ConfigError(`could not load a tokenizer: ${(cause as Error).message}`, { file: local ? resolve(location, 'tokenizer.json') : `hub:${idOrPath}/tokenizer.json` }, { cause });
    }
  }

  /** `<s>`-style BOS id, or null. */
  get bosTokenId(): number | null {
    return idOrNull(this.hf.bos_token_id);
  }

  /** EOS id, or null. */
  get eosTokenId(): number | null {
    return idOrNull(this.hf.eos_token_id);
  }

  /** Pad id used in batches (transformers.js falls back to EOS when the tokenizer has none). */
  get padTokenId(): number | null {
    return idOrNull(this.hf.pad_token_id);
  }

  /** Number of entries in the vocabulary (added tokens included). */
  get vocabSize(): number {
    return this.hf.get_vocab().size;
  }

  /** Ids of one text (with BOS etc. unless `addSpecialTokens` is false). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true });
  }

  /** Ids and attention masks of several texts, padded and truncated by transformers.js. */
  encodeBatch(texts: readonly string[], options: EncodeBatchOptions = {}): EncodedBatch {
    if (texts.length === 0) throw new ConfigError('encodeBatch needs at least one text');
    const saved = this.hf.padding_side;
    this.hf.padding_side = options.paddingSide ?? this.paddingSide;
    try {
      const out = this.hf([...texts], {
        add_special_tokens: options.addSpecialTokens ?? true,
        padding: options.padding ?? true,
        truncation: options.truncation ?? options.maxLength !== undefined,
        max_length: options.maxLength ?? null,
        return_tensor: false,
      });
      return { inputIds: out.input_ids, attentionMask: out.attention_mask };
    } finally {
      this.hf.padding_side = saved;
    }
  }

  /** Text of `ids` (special tokens dropped unless `skipSpecialTokens` is false). */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.hf.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  /** {@link Tokenizer.decode} for several rows. */
  decodeBatch(rows: readonly (readonly number[])[], options: { skipSpecialTokens?: boolean } = {}): string[] {
    return rows.map((ids) => this.decode(ids, options));
  }
}

/**
 * Builds a transformers.js tokenizer from `tokenizer.json` and
 * `tokenizer_config.json` fetched through {@link hubSource}, choosing the
 * class the way `AutoTokenizer` does (`tokenizer_class` without `Fast`).
 */
async function tokenizerFromHubFiles(repoId: string, options: HubOptions): Promise<PreTrainedTokenizer> {
  const source = hubSource(repoId, options);
  const read = async (file: string): Promise<Record<string, unknown>> => {
    const bytes = await source.read(file);
    if (bytes === null) {
      if (!remoteAllowed(options)) throw offlineMissingError(repoId, file, options);
      throw new ConfigError('tokenizer file not found', { file: source.describe(file) });
    }
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    } catch (cause) {
      throw new ConfigError(`not valid JSON: ${(cause as Error).message}`, { file: source.describe(file) }, { cause });
    }
  };
  const json = await read('tokenizer.json');
  const config = await read('tokenizer_config.json');
  const className = typeof config['tokenizer_class'] === 'string' ? config['tokenizer_class'].replace(/Fast$/, '') : 'PreTrainedTokenizer';
  const candidate = (transformers as unknown as Record<string, unknown>)[className];
  const cls =
    typeof candidate === 'function' && (candidate === PreTrainedTokenizer || candidate.prototype instanceof PreTrainedTokenizer) ? (candidate as typeof PreTrainedTokenizer) : PreTrainedTokenizer;
  return new cls(json, config);
}

function idOrNull(id: number | null | undefined): number | null {
  return typeof id === 'number' && Number.isInteger(id) ? id : null;
}
