import { AutoConfig } from '@huggingface/transformers';
import { ConfigError } from '@tsd-peft/core';
import type { RawConfig } from '../models/config-fields.js';
import { hubLoadError, type HubOptions, type ModelFileSource } from './hub.js';

/** Fields transformers.js adds to a loaded config that are not part of `config.json`. */
const TRANSFORMERS_JS_FIELDS = new Set(['normalized_config', 'transformers.js_config', 'is_encoder_decoder']);

/** A `config.json` as loaded, with where it came from. */
export interface LoadedConfig {
  raw: RawConfig;
  /** How errors name the file. */
  file: string;
}

/**
 * Loads `config.json` through transformers.js `AutoConfig.from_pretrained`
 * (local folder, or hub repo with its cache and `env` switches) and returns
 * the plain fields. A missing or unreadable file is a ConfigError naming it;
 * a hub config that is neither cached nor downloadable is the offline TsdError.
 */
export async function loadModelConfig(source: ModelFileSource, options: HubOptions = {}): Promise<LoadedConfig> {
  const file = source.describe('config.json');
  let loaded: Record<string, unknown>;
  try {
    const config = await AutoConfig.from_pretrained(source.location, {
      local_files_only: source.isLocal || options.localFilesOnly === true,
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      ...(options.cacheDir === undefined ? {} : { cache_dir: options.cacheDir }),
    });
    loaded = config as unknown as Record<string, unknown>;
  } catch (cause) {
    const hubError = source.isLocal ? null : hubLoadError(source.location, 'config.json', options, cause);
    if (hubError !== null) throw hubError;
    throw new ConfigError(`could not load config.json: ${(cause as Error).message}`, { file }, { cause });
  }
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(loaded)) {
    if (!TRANSFORMERS_JS_FIELDS.has(key)) raw[key] = value;
  }
  return { raw, file };
}
