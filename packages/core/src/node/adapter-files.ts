import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, TsdError } from '../errors.js';
import { parseNativeAdapter, serializeNativeAdapter, type NativeAdapter } from '../native-adapter.js';
import { parsePeftAdapter, serializePeftAdapter, type PeftAdapter, type SerializePeftAdapterOptions } from '../peft-adapter.js';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../peft-adapter-files.js';
import { writeFileAtomic, writeFilesAtomic } from './atomic-write.js';
import { readFileBytes } from './safetensors-file.js';

export { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE };

/**
 * Reads a PEFT LoRA adapter folder (`adapter_config.json` +
 * `adapter_model.safetensors`) synchronously. Errors name the file. The
 * async loader that also takes hub ids, URLs and Blobs is `loadPeftAdapter`
 * of `@tsd-peft/transformers`; in the browser, core's `readPeftAdapter`.
 */
export function readPeftAdapterFolder(dir: string): PeftAdapter {
  const configPath = join(dir, PEFT_CONFIG_FILE);
  let configJson: string;
  try {
    configJson = readFileSync(configPath, 'utf8');
  } catch (cause) {
    throw new ConfigError(`could not read adapter config: ${(cause as Error).message}`, { file: configPath }, { cause });
  }
  return parsePeftAdapter(configJson, readFileBytes(join(dir, PEFT_WEIGHTS_FILE)), dir);
}

/**
 * Saves a PEFT adapter folder that `PeftModel.from_pretrained` loads: creates
 * `dir` if needed and writes both files with {@link writeFilesAtomic}: both
 * are written in full before either replaces an old one, and the two
 * renames follow each other, so a crash mid-save leaves the old pair.
 */
export function savePeftAdapter(dir: string, adapter: PeftAdapter, options?: SerializePeftAdapterOptions): void {
  const { configJson, weights } = serializePeftAdapter(adapter, options);
  makeDir(dir);
  writeFilesAtomic([
    [join(dir, PEFT_WEIGHTS_FILE), weights],
    [join(dir, PEFT_CONFIG_FILE), configJson],
  ]);
}

/** Loads a tsd-peft native adapter file. Errors name `path`. */
export function loadNativeAdapter(path: string): NativeAdapter {
  return parseNativeAdapter(readFileBytes(path), path);
}

/** Saves a tsd-peft native adapter file atomically. */
export function saveNativeAdapter(path: string, adapter: NativeAdapter): void {
  writeFileAtomic(path, serializeNativeAdapter(adapter));
}

function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new TsdError(`could not create folder: ${(cause as Error).message}`, { file: dir }, 'TSD_ERROR', { cause });
  }
}
