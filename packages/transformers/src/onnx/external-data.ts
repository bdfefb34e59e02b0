/**
 * Moving initializer data out of a model into one external data file, as
 * onnx's `convert_model_to_external_data` does: each large tensor loses its
 * `raw_data` and gains `external_data` {location, offset, length} entries and
 * `data_location = EXTERNAL`. Models over 2 GB must be stored this way
 * (protobuf's limit), which is the `model.onnx` + `model.onnx_data` layout
 * transformers.js loads with `use_external_data_format`.
 */
import { OnnxError } from '@tsd-peft/core';
import { OnnxField, parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { concatBytes, encodeLenField, encodeStringField, encodeVarintField } from './protobuf-wire.js';
import { applyEdits, type ByteEdit } from './splice.js';

/** Options of {@link externalizeInitializers}. */
export interface ExternalizeOptions {
  /** Data file name, relative to the model's folder (default `model.onnx_data`). */
  readonly location?: string;
  /** Only tensors with at least this many data bytes move (default 1024, as onnx's size_threshold). */
  readonly minBytes?: number;
  /** Each tensor's offset is a multiple of this (default 64). */
  readonly align?: number;
}

/** The model without the moved data, and the data file's bytes. */
export interface ExternalizedModel {
  readonly model: Uint8Array[];
  readonly data: Uint8Array;
  /** Tensor names moved, in file order. */
  readonly moved: string[];
}

/**
 * Moves `raw_data` of initializers of at least `minBytes` into one data file.
 * Tensors already external or stored in typed fields stay as they are.
 */
export function externalizeInitializers(model: Uint8Array | OnnxModel, options: ExternalizeOptions = {}): ExternalizedModel {
  const parsed = model instanceof Uint8Array ? parseOnnxModel(model) : model;
  const location = options.location ?? 'model.onnx_data';
  const minBytes = options.minBytes ?? 1024;
  const align = options.align ?? 64;
  if (!Number.isInteger(align) || align < 1) throw new OnnxError(`align must be a positive integer, got ${align}`);
  const edits: ByteEdit[] = [];
  const pieces: Uint8Array[] = [];
  const moved: string[] = [];
  let size = 0;
  for (const t of parsed.initializers.values()) {
    const raw = t.rawData;
    if (t.external || raw === undefined) continue;
    const bytes = parsed.bytes.subarray(raw.field.valueStart, raw.field.end);
    if (bytes.length < minBytes) continue;
    const pad = (align - (size % align)) % align;
    if (pad > 0) pieces.push(new Uint8Array(pad));
    const offset = size + pad;
    pieces.push(bytes);
    size = offset + bytes.length;
    const entry = (k: string, v: string): Uint8Array => encodeLenField(OnnxField.tensor.externalData, concatBytes([encodeStringField(1, k), encodeStringField(2, v)]));
    // Drop raw_data, then append the external entries at the end of the TensorProto.
    edits.push({ start: raw.field.start, end: raw.field.end, bytes: new Uint8Array(0), enclosing: raw.enclosing });
    edits.push({
      start: t.field.end,
      end: t.field.end,
      bytes: concatBytes([entry('location', location), entry('offset', String(offset)), entry('length', String(bytes.length)), encodeVarintField(OnnxField.tensor.dataLocation, 1)]),
      enclosing: raw.enclosing,
    });
    moved.push(t.name);
  }
  return { model: applyEdits(parsed.bytes, edits, parsed.file), data: concatBytes(pieces), moved };
}
