import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, FROZEN_DTYPES, ShapeError, isFrozenDtype, type EncodedWeight, type FrozenDtype } from '@tsd-peft/core';
import { ReducedWeight, storeBaseWeight } from '@tsd-peft/tfjs';
import type { ArchitectureSpec } from '../models/registry.js';
import type { CausalLMReplica, WeightMap } from '../models/types.js';

/** A checkpoint tensor before conversion: its stored shape and a float32 reader. */
export interface StoredTensor {
  readonly shape: readonly number[];
  /** Decodes the values (fp16/bf16 widened, quantized codes dequantized); called only for tensors the replica uses. */
  read(): Float32Array;
  /** A quantized weight's codes [out, in] (q4/q8 ONNX variants), kept as they are unless `frozenDtype` asks for another type. */
  encoded?(): EncodedWeight;
  /** A quantized weight whose codes could not be kept (scales not per row): `read` expands it. */
  readonly codesExpanded?: true;
}

/** Options of {@link buildWeightMap}. */
export interface BuildWeightMapOptions {
  /** The source already holds every linear weight as `[out, in]` (e.g. the ONNX reader's output). */
  storedAsLinear?: boolean;
  /**
   * Element type of the frozen 2-D weights (projections, lm_head, token and
   * position embeddings): 'float32' (default: tensors as before), or
   * 'bfloat16' / 'int8' (`ReducedWeight`s, QLoRA-style; core's
   * `encodeWeight`). Each tensor is converted right after it is read, so the
   * whole model never exists in fp32. 1-D weights (norms, biases) stay fp32.
   * Tensors with codes (`StoredTensor.encoded`, a quantized file) keep them when
   * this is left out or 'int8'; an explicit 'float32' expands them, 'bfloat16'
   * decodes and re-encodes them (lossy).
   */
  frozenDtype?: FrozenDtype;
}

/** A weight map plus the checkpoint tensors it did not use. */
export interface BuiltWeights {
  weights: WeightMap;
  /** Checkpoint keys the replica does not read (e.g. a tied file's lm_head copy). */
  unused: string[];
  /** Quantized weights of the replica, by HF name: `kept` as codes, or `expanded` to fp32 (see {@link StoredTensor.codesExpanded}). */
  quantized: { kept: string[]; expanded: string[] };
}

/**
 * Turns checkpoint tensors into the replica's weight map: canonical names
 * (e.g. GPT-2's prefix-less keys), Conv1D `[in, out]` transposed to `[out, in]`,
 * every expected tensor present with the shape the config implies (checked
 * before any tensor is created), and for tied heads `lm_head.weight` aliased
 * to the embedding tensor as in a PyTorch `state_dict`. `file` names the
 * source in errors. With `frozenDtype` 'bfloat16' / 'int8', the 2-D weights
 * are `ReducedWeight`s (see {@link BuildWeightMapOptions.frozenDtype}).
 */
export function buildWeightMap(stored: ReadonlyMap<string, StoredTensor>, replica: CausalLMReplica, spec: ArchitectureSpec, file: string, options: BuildWeightMapOptions = {}): BuiltWeights {
  const transposed = (name: string): boolean => options.storedAsLinear !== true && spec.storedTransposed(name);
  const dtype = options.frozenDtype ?? 'float32';
  if (!isFrozenDtype(dtype)) throw new ConfigError(`frozenDtype must be one of ${FROZEN_DTYPES.join(', ')}, got '${String(dtype)}'`, { field: 'frozenDtype' });
  const expected = replica.expectedWeights();
  const tiedSource = replica.tiedHeadSource();
  const byName = new Map<string, { key: string; t: StoredTensor }>();
  const unused: string[] = [];
  for (const [key, t] of stored) {
    const name = spec.canonicalTensorName(key);
    const isTiedCopy = tiedSource !== null && name === 'lm_head.weight';
    if (name === null || !expected.has(name) || isTiedCopy) {
      unused.push(key);
      continue;
    }
    if (byName.has(name)) throw new ConfigError(`two checkpoint tensors map to ${name}`, { file, tensor: key });
    byName.set(name, { key, t });
  }

  for (const [name, shape] of expected) {
    if (name === 'lm_head.weight' && tiedSource !== null) continue;
    const entry = byName.get(name);
    if (entry === undefined) {
      const hint = name === 'lm_head.weight' ? ' (config.json has tie_word_embeddings=false)' : '';
      throw new ConfigError(`the config (model_type ${replica.modelType}) needs a tensor the weights lack${hint}`, { file, tensor: name });
    }
    const stored = transposed(name) ? [...entry.t.shape].reverse() : [...entry.t.shape];
    if (stored.length !== shape.length || stored.some((d, i) => d !== shape[i])) {
      const what = transposed(name) ? ' (stored transposed, as Conv1D [in, out])' : '';
      throw new ShapeError(`tensor has shape [${entry.t.shape.join(', ')}]${what} but config.json implies [${shape.join(', ')}]`, {
        file,
        tensor: entry.key,
        shape: entry.t.shape,
      });
    }
  }

  const weights: WeightMap = new Map();
  const quantized: BuiltWeights['quantized'] = { kept: [], expanded: [] };
  const keepCodes = options.frozenDtype === undefined || options.frozenDtype === 'int8';
  try {
    for (const [name, { t }] of byName) {
      if (t.encoded !== undefined && keepCodes) {
        // the file's own codes: never expanded (a q4/q8 variant as a QLoRA base)
        weights.set(name, ReducedWeight.fromEncoded(t.encoded(), name));
        quantized.kept.push(name);
        continue;
      }
      if (t.codesExpanded === true && keepCodes) quantized.expanded.push(name);
      const data = t.read();
      if (t.shape.length === 2 && dtype !== 'float32') {
        // encoded on the host, so this tensor's fp32 copy is the only one alive (never the whole model's)
        const [rows, cols] = t.shape as [number, number];
        weights.set(name, transposed(name) ? storeBaseWeight(transposeHost(data, rows, cols), cols, rows, dtype, name) : storeBaseWeight(data, rows, cols, dtype, name));
      } else if (transposed(name)) {
        const [rows, cols] = t.shape as [number, number];
        weights.set(
          name,
          tf.tidy(() => tf.transpose(tf.tensor2d(data, [rows, cols]))),
        );
      } else {
        weights.set(name, tf.tensor(data, [...t.shape], 'float32'));
      }
    }
  } catch (error) {
    for (const w of weights.values()) w.dispose();
    throw error;
  }
  if (tiedSource !== null) weights.set('lm_head.weight', weights.get(tiedSource) as NonNullable<ReturnType<WeightMap['get']>>);
  return { weights, unused, quantized };
}

/** `data` [rows, cols] row-major → its transpose [cols, rows] (GPT-2's Conv1D weights, before encoding). */
function transposeHost(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}
