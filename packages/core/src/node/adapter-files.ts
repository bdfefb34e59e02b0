import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, TsdError } from '../errors.js';
import { parseNativeAdapter, serializeNativeAdapter, type NativeAdapter } from '../native-adapter.js';
import { parsePeftAdapter, serializePeftAdapter, type PeftAdapter, type SerializePeftAdapterOptions } from '../peft-adapter.js';
import { writeFileAtomic, writeFilesAtomic } from './atomic-write.js';
import { readFileBytes } from './safetensors-file.js';

/** File names PEFT's `save_pretrained` uses inside an adapter folder. */
export const PEFT_CONFIG_FILE = 'adapter_config.json';
/** See {@link PEFT_CONFIG_FILE}. */
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Loads a PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`). Errors name the file. */
export function loadPeftAdapter(dir: string): PeftAdapter {
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
