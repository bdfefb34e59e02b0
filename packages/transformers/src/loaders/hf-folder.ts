import { parseSafetensors, SafetensorsError, tensorToFloat32, type SafetensorsTensor } from '@tsd-peft/core';
import type { ModelFileSource } from './hub.js';
import type { StoredTensor } from './weight-map.js';

/** File names of the Hugging Face safetensors layout. */
export const SAFETENSORS_FILE = 'model.safetensors';
/** The index of a sharded checkpoint (`weight_map`: tensor → shard file). */
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Checkpoint tensors read from a source, with the files they came from. */
export interface SafetensorsWeights {
  tensors: Map<string, StoredTensor>;
  /** Files read, as the source describes them. */
  files: string[];
}

/**
 * Reads `model.safetensors`, or every shard listed by
 * `model.safetensors.index.json`, from `source`. Values stay as file bytes
 * until a tensor is used (fp32/fp16/bf16 are decoded to fp32 by core's
 * `tensorToFloat32`). Returns null when the source has neither file.
 */
export async function readSafetensorsWeights(source: ModelFileSource): Promise<SafetensorsWeights | null> {
  const indexBytes = await source.read(SAFETENSORS_INDEX_FILE);
  if (indexBytes !== null) return readSharded(source, indexBytes);
  const bytes = await source.read(SAFETENSORS_FILE);
  if (bytes === null) return null;
  const file = source.describe(SAFETENSORS_FILE);
  return { tensors: storedTensors(bytes, file), files: [file] };
}

async function readSharded(source: ModelFileSource, indexBytes: Uint8Array): Promise<SafetensorsWeights> {
  const indexFile = source.describe(SAFETENSORS_INDEX_FILE);
  const weightMap = parseIndex(indexBytes, indexFile);
  const shards = [...new Set(weightMap.values())].sort();
  const tensors = new Map<string, StoredTensor>();
  const files = [indexFile];
  for (const shard of shards) {
    if (shard.includes('..') || shard.startsWith('/')) {
      throw new SafetensorsError(`shard name ${JSON.stringify(shard)} leaves the model folder`, { file: indexFile });
    }
    const bytes = await source.read(shard);
    const file = source.describe(shard);
    if (bytes === null) throw new SafetensorsError('shard listed in the index is missing', { file });
    files.push(file);
    for (const [name, t] of storedTensors(bytes, file)) {
      if (weightMap.get(name) !== shard) {
        throw new SafetensorsError(`shard holds a tensor the index places in ${weightMap.get(name) ?? 'no shard'}`, { file, tensor: name });
      }
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of weightMap) {
    if (!tensors.has(name)) throw new SafetensorsError('tensor listed in the index is missing from its shard', { file: source.describe(shard), tensor: name });
  }
  return { tensors, files };
}

function parseIndex(bytes: Uint8Array, file: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new SafetensorsError(`index is not valid JSON: ${(cause as Error).message}`, { file }, { cause });
  }
  const map = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['weight_map'] : undefined;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new SafetensorsError('index has no "weight_map" object', { file });
  }
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string') throw new SafetensorsError('weight_map entry is not a file name', { file, tensor: name });
    out.set(name, shard);
  }
  return out;
}

function storedTensors(bytes: Uint8Array, file: string): Map<string, StoredTensor> {
  const parsed = parseSafetensors(bytes, file);
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of parsed.tensors) out.set(name, lazyTensor(t, name, file));
  return out;
}

const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

function lazyTensor(t: SafetensorsTensor, name: string, file: string): StoredTensor {
  return {
    shape: t.shape,
    read: () => {
      // checked here so the error names the file as well as the tensor
      if (!FLOAT_DTYPES.has(t.dtype)) {
        throw new SafetensorsError(`${t.dtype} weights are not supported (quantized?); use an fp32/fp16/bf16 checkpoint`, { file, tensor: name, shape: t.shape });
      }
      return tensorToFloat32(t, name);
    },
  };
}
