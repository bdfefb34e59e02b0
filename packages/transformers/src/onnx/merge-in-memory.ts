/**
 * The merged export without a file system: {@link patchOnnxModel} on bytes in
 * memory, with external data files given and returned as byte arrays. This is
 * what `exportForTransformersJs` does per ONNX file, for pages and workers
 * that hold the model in memory (fetched, from OPFS or IndexedDB) and hand
 * the result to transformers.js themselves.
 */
import { OnnxError } from '@tsd-peft/core';
import { patchOnnxModel, type AdapterUpdates, type PatchedModule, type QuantizedMergeMode } from './patch.js';
import { concatBytes } from './protobuf-wire.js';
import type { ExternalDataReader } from './tensor-data.js';

/** Options of {@link mergeAdapterIntoOnnx}. */
export interface MergeAdapterIntoOnnxOptions {
  /** External data files of the model by `location` (e.g. `{ 'model.onnx_data': bytes }`); never modified. */
  readonly external?: Readonly<Record<string, Uint8Array>>;
  /** Replaces every module's scaling (default: the adapter's own). */
  readonly scaling?: number;
  /** How quantized weights get the adapter (default `'side-branch'`; see `OnnxPatchOptions.quantized`). */
  readonly quantized?: QuantizedMergeMode;
  /** Name of the model for error messages (e.g. `onnx/model.onnx`). */
  readonly file?: string;
}

/** The merged model: one `Uint8Array` per file, ready for a Blob, OPFS or a cache `Response`. */
export interface MergedOnnxModel {
  readonly model: Uint8Array;
  /** Patched copies of the external data files that had adapted weights; others are omitted (unchanged). */
  readonly external: Record<string, Uint8Array>;
  readonly modules: PatchedModule[];
}

/** An {@link ExternalDataReader} over files held in memory. */
export function memoryExternalDataReader(files: Readonly<Record<string, Uint8Array>>, file?: string): ExternalDataReader {
  return {
    read(location, offset, length) {
      const bytes = files[location];
      if (bytes === undefined) throw new OnnxError(`external data file "${location}" was not given (options.external)`, { file: file ?? location });
      if (offset + length > bytes.length) {
        throw new OnnxError(`external data range [${offset}, ${offset + length}) is past the end of the ${bytes.length}-byte file`, { file: location });
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

/**
 * Merges `adapter` (a module → LoRA factors map, `{ modules }` of a loaded
 * PEFT adapter, or {factors, dash} updates) into the ONNX model `model`:
 * W ← W + scaling·B·A (+ the dash term) in each adapted module's weight, in
 * its stored type, as `exportForTransformersJs` does for each file of a
 * folder — the bytes are the same. Errors are those of `patchOnnxModel`.
 *
 * ```ts
 * const merged = mergeAdapterIntoOnnx(baseBytes, peft);
 * const blob = new Blob([merged.model]);
 * ```
 */
export function mergeAdapterIntoOnnx(model: Uint8Array, adapter: AdapterUpdates | { readonly modules: AdapterUpdates }, options: MergeAdapterIntoOnnxOptions = {}): MergedOnnxModel {
  const updates = adapter instanceof Map ? (adapter as AdapterUpdates) : (adapter as { readonly modules: AdapterUpdates }).modules;
  const result = patchOnnxModel(model, updates, {
    external: memoryExternalDataReader(options.external ?? {}, options.file),
    ...(options.file === undefined ? {} : { file: options.file }),
    ...(options.scaling === undefined ? {} : { scaling: options.scaling }),
    ...(options.quantized === undefined ? {} : { quantized: options.quantized }),
  });
  const external: Record<string, Uint8Array> = {};
  for (const w of result.externalWrites) {
    let copy = external[w.location];
    if (copy === undefined) {
      const source = options.external?.[w.location];
      if (source === undefined) throw new OnnxError(`external data file "${w.location}" was not given (options.external)`, { file: options.file ?? w.location });
      copy = external[w.location] = source.slice();
    }
    copy.set(w.bytes, w.offset);
  }
  return { model: concatBytes(result.chunks), external, modules: result.modules };
}
