import { dirname, join } from 'node:path';
import { fileExternalDataReader } from '../onnx/node-io.js';
import { readOnnxWeightsFromBytes } from '../onnx/read-weights.js';
import type { ModelFileSource } from './hub.js';
import type { StoredTensor } from './weight-map.js';
import type { EncodedWeight } from '@tsd-peft/core';

/** The fp32 model transformers.js loads for `text-generation` (`onnx/model.onnx`). */
export const DEFAULT_ONNX_FILE = 'onnx/model.onnx';

/** The fp32 merged decoder of `@xenova/transformers` 2.x repos (optimum 1.x: an `If` on `use_cache_branch`). */
export const LEGACY_ONNX_FILE = 'onnx/decoder_model_merged.onnx';

/** Weights read from a transformers.js ONNX export, already in HF names and `[out, in]` layout. */
export interface OnnxFolderWeights {
  tensors: Map<string, StoredTensor>;
  files: string[];
}

/**
 * The ONNX-folder weight source: reads `onnxFile` from `source` and hands it
 * to the ONNX module's weight reader (`readOnnxWeightsFromBytes`), which maps
 * MatMul nodes back to HF module paths and transposes the stored `Wᵀ`.
 * Quantized weights of a q8/q4 variant keep their codes (`StoredTensor.encoded`;
 * their `read` decodes them exactly when a loader asks for fp32). External data
 * (`.onnx_data`) is read from local folders only. Returns null when the file
 * does not exist.
 */
export async function readOnnxFolderWeights(source: ModelFileSource, onnxFile = DEFAULT_ONNX_FILE): Promise<OnnxFolderWeights | null> {
  const bytes = await source.read(onnxFile);
  if (bytes === null) return null;
  const file = source.describe(onnxFile);
  const external = source.isLocal ? fileExternalDataReader(dirname(join(source.location, onnxFile))) : undefined;
  // A q8/q4 variant (onnxFile: 'onnx/model_q4.onnx') serves as a frozen base through its codes.
  const read = readOnnxWeightsFromBytes(bytes, { file, dequantize: true, keepCodes: true, ...(external === undefined ? {} : { external }) });
  const tensors = new Map<string, StoredTensor>();
  for (const [name, w] of read) {
    tensors.set(name, {
      shape: w.shape,
      read: () => w.data,
      // `in`, not a read: the reader unpacks codes on first access, and unused tensors (a tied head's copy) never need it
      ...('encoded' in w ? { encoded: () => w.encoded as EncodedWeight } : {}),
      ...(w.codesExpanded === true ? { codesExpanded: true as const } : {}),
    });
  }
  return { tensors, files: [file] };
}
