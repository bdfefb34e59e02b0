import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TsdError, type FrozenDtype } from '@tsd-peft/core';
import type { LinearProvider } from '@tsd-peft/tfjs';
import { generate, type GenerateOptions, type GenerateResult } from './generate.js';
import { loadModelConfig } from './loaders/config.js';
import { readSafetensorsWeights, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from './loaders/hf-folder.js';
import { hubSource, isHubModelId, localFolderSource, offlineMissingError, remoteAllowed, type HubOptions, type ModelFileSource } from './loaders/hub.js';
import { readLlama2c } from './loaders/llama2c.js';
import { DEFAULT_ONNX_FILE, LEGACY_ONNX_FILE, readOnnxFolderWeights } from './loaders/onnx-folder.js';
import { buildWeightMap, type StoredTensor } from './loaders/weight-map.js';
import type { RawConfig } from './models/config-fields.js';
import { FrozenLinear, type FrozenLinearOptions } from './models/frozen-linear.js';
import { architectureFor } from './models/registry.js';
import type { CausalLMConfig, CausalLMInputs, CausalLMReplica, WeightMap } from './models/types.js';
import { disposeWeights } from './models/weights.js';
import { Tokenizer } from './tokenizer.js';

export type { CausalLMConfig } from './models/types.js';

/** Where the weights came from. */
export type WeightSourceKind = 'safetensors' | 'onnx' | 'llama2c';

/** Options of {@link loadCausalLM}. */
export interface LoadCausalLMOptions extends HubOptions {
  /**
   * Tokenizer: `true` requires one beside the model, `false` skips it, a
   * string loads it from another folder or repo (a llama2.c `.bin` has none of
   * its own). Default: load it when the model has one.
   */
  tokenizer?: boolean | string;
  /** Weight files to use: `auto` (safetensors, else ONNX), `safetensors` or `onnx`. */
  weights?: 'auto' | 'safetensors' | 'onnx';
  /** ONNX file inside the folder (default `onnx/model.onnx`, else the 2.x layout's `onnx/decoder_model_merged.onnx`). */
  onnxFile?: string;
  /** Options of the model's {@link FrozenLinear}. */
  frozenLinear?: FrozenLinearOptions;
  /**
   * Element type of the frozen 2-D weights (projections, lm_head, embeddings):
   * 'float32' (default, unchanged), 'bfloat16' or 'int8' (blockwise, 32
   * columns per scale). Reduced weights are converted tensor by tensor while
   * loading and read by the matmul kernel in place; adapters, gradients and
   * optimizer state stay fp32 (QLoRA's split). A quantized ONNX variant
   * (`onnxFile: 'onnx/model_q4.onnx'`) keeps its own codes when this is left
   * out or 'int8' (see {@link CausalLMSource.quantizedTensors}); 'float32'
   * expands them, 'bfloat16' decodes and re-encodes them (lossy). See the
   * README's "Reduced-precision frozen weights".
   */
  frozenDtype?: FrozenDtype;
}

/** Provenance of a loaded model. */
export interface CausalLMSource {
  kind: WeightSourceKind;
  /** Folder, repo id or `.bin` path. */
  location: string;
  /** Files the weights were read from. */
  files: string[];
  /** Checkpoint tensors the replica does not read (e.g. a tied head's stored copy). */
  unusedTensors: string[];
  /**
   * A quantized (q4/q8) file's weights the replica uses: `kept` as their codes (the frozen
   * base holds them as `ReducedWeight`s), `expanded` to fp32 because their layout is not a
   * row block (per-column 8-bit scales of an untransposed table, which no exporter writes). Both empty for other files or `frozenDtype: 'float32'`.
   */
  quantizedTensors: { kept: string[]; expanded: string[] };
}

/** A prompt for {@link CausalLM.generate}: text (needs a tokenizer) or token ids. */
export type Prompt = string | readonly number[];

/** {@link GenerateResult} plus decoded text when the model has a tokenizer. */
export interface CausalLMGenerateResult extends GenerateResult {
  /** Decoded full sequences (special tokens skipped), or null without a tokenizer. */
  texts: string[] | null;
}

/**
 * A loaded causal LM: HF config, fp32 weight map, tokenizer, and the TF.js
 * replica's forward. `forward` is a pure function of its inputs, the weight
 * map and a {@link LinearProvider} — pass an adapter model to train or run
 * with adapters, or nothing for the frozen model.
 */
export class CausalLM {
  /** The adapter-free linear provider over {@link CausalLM.weights}. */
  readonly frozen: FrozenLinear;

  private constructor(
    readonly replica: CausalLMReplica<CausalLMConfig>,
    readonly rawConfig: RawConfig,
    readonly weights: WeightMap,
    readonly tokenizer: Tokenizer | null,
    readonly source: CausalLMSource,
    frozenOptions: FrozenLinearOptions = {},
  ) {
    this.frozen = new FrozenLinear(weights, frozenOptions);
  }

  /**
   * Loads a model, `from_pretrained` style, from a local HF folder
   * (`config.json` + `model.safetensors` or a sharded index, or a transformers.js
   * ONNX export), a hub repo id (through transformers.js's cache and `env`
   * switches), or a llama2.c legacy `.bin` checkpoint.
   */
  static async from_pretrained(idOrPath: string, options: LoadCausalLMOptions = {}): Promise<CausalLM> {
    if (existsSync(idOrPath)) {
      const path = resolve(idOrPath);
      if (statSync(path).isDirectory()) return CausalLM.fromSource(localFolderSource(path), options);
      if (path.endsWith('.bin') && basename(path) !== 'pytorch_model.bin') return CausalLM.fromLlama2c(path, options);
      throw new ConfigError('unsupported model file: pass a folder (config.json + model.safetensors) or a llama2.c .bin', { file: path });
    }
    if (!isHubModelId(idOrPath)) throw new ConfigError('no such file or folder, and not a hub model id', { file: idOrPath });
    return CausalLM.fromSource(hubSource(idOrPath, options), options);
  }

  private static async fromSource(source: ModelFileSource, options: LoadCausalLMOptions): Promise<CausalLM> {
    const { raw, file } = await loadModelConfig(source, options);
    const spec = architectureFor(raw['model_type'], file);
    const replica = spec.createReplica(raw, file);
    return disposingOnError(
      () => replica.dispose(),
      async () => {
        const read = await readWeights(source, options);
        const { weights, unused, quantized } = buildWeightMap(read.tensors, replica, spec, read.files.join(', '), {
          storedAsLinear: read.kind === 'onnx',
          ...(options.frozenDtype === undefined ? {} : { frozenDtype: options.frozenDtype }),
        });
        return disposingOnError(
          () => disposeWeights(weights),
          async () => {
            const tokenizer = await loadTokenizer(options.tokenizer, source, options, replica.config.vocabSize);
            return new CausalLM(
              replica,
              raw,
              weights,
              tokenizer,
              { kind: read.kind, location: source.location, files: read.files, unusedTensors: unused, quantizedTensors: quantized },
              options.frozenLinear,
            );
          },
        );
      },
    );
  }

  private static async fromLlama2c(path: string, options: LoadCausalLMOptions): Promise<CausalLM> {
    const ckpt = await readLlama2c(path);
    const spec = architectureFor('llama', path);
    const replica = spec.createReplica(ckpt.config, path);
    return disposingOnError(
      () => replica.dispose(),
      async () => {
        const { weights, unused, quantized } = buildWeightMap(ckpt.tensors, replica, spec, path, options.frozenDtype === undefined ? {} : { frozenDtype: options.frozenDtype });
        return disposingOnError(
          () => disposeWeights(weights),
          async () => {
            const tokenizer = typeof options.tokenizer === 'string' ? await loadTokenizer(options.tokenizer, null, options, replica.config.vocabSize) : null;
            if (options.tokenizer === true) {
              throw new ConfigError('a llama2.c checkpoint has no HF tokenizer of its own; pass tokenizer: <folder or repo with tokenizer.json>', { file: path });
            }
            return new CausalLM(replica, ckpt.config, weights, tokenizer, { kind: 'llama2c', location: path, files: [path], unusedTensors: unused, quantizedTensors: quantized }, options.frozenLinear);
          },
        );
      },
    );
  }

  /** `model_type` (llama, mistral, qwen2, gpt2). */
  get modelType(): string {
    return this.replica.modelType;
  }

  /** The validated config. */
  get config(): CausalLMConfig {
    return this.replica.config;
  }

  /**
   * Recompute each decoder layer's forward in the backward pass when
   * training through this model (HF `model.gradient_checkpointing_enable()`).
   */
  gradientCheckpointingEnable(): void {
    this.replica.gradientCheckpointingEnable();
  }

  /** Keep every activation for the backward pass again (the default). */
  gradientCheckpointingDisable(): void {
    this.replica.gradientCheckpointingDisable();
  }

  /** True while gradient checkpointing is on (HF `is_gradient_checkpointing`). */
  get isGradientCheckpointing(): boolean {
    return this.replica.isGradientCheckpointing;
  }

  /** Logits `[B, T, vocab]`; `linear` defaults to the frozen weights. */
  forward(inputs: CausalLMInputs, linear: LinearProvider = this.frozen): tf.Tensor3D {
    return this.replica.forward(inputs, this.weights, linear);
  }

  /** Module paths of every projection (adapter targets), lm_head last. */
  linearModules(): string[] {
    return this.replica.linearModules();
  }

  /**
   * Generates from one prompt or a batch (see {@link generate}); text prompts
   * are tokenized with special tokens (BOS). EOS defaults to the config's.
   */
  async generate(prompts: Prompt | readonly Prompt[], options: GenerateOptions & { linear?: LinearProvider } = {}): Promise<CausalLMGenerateResult> {
    const list: readonly Prompt[] = typeof prompts === 'string' || isIdList(prompts) ? [prompts as Prompt] : (prompts as readonly Prompt[]);
    const ids = list.map((p) => {
      if (typeof p !== 'string') return p;
      if (this.tokenizer === null) throw new ConfigError('text prompts need a tokenizer; pass token ids or load one with { tokenizer }');
      return this.tokenizer.encode(p);
    });
    const { linear = this.frozen, ...rest } = options;
    const result = await generate((inputs) => this.forward(inputs, linear), ids, {
      eosTokenIds: this.config.eosTokenId,
      ...rest,
    });
    const texts = this.tokenizer === null ? null : this.tokenizer.decodeBatch(result.sequences);
    return { ...result, texts };
  }

  /** Frees the weights, cached transposes, RoPE tables and masks. */
  dispose(): void {
    this.frozen.dispose();
    this.replica.dispose();
    disposeWeights(this.weights);
  }
}

/** Loads a causal LM; see {@link CausalLM.from_pretrained}. */
export function loadCausalLM(idOrPath: string, options: LoadCausalLMOptions = {}): Promise<CausalLM> {
  return CausalLM.from_pretrained(idOrPath, options);
}

function isIdList(p: Prompt | readonly Prompt[]): p is readonly number[] {
  return Array.isArray(p) && (p.length === 0 || typeof p[0] === 'number');
}

async function readWeights(source: ModelFileSource, options: LoadCausalLMOptions): Promise<{ kind: 'safetensors' | 'onnx'; tensors: ReadonlyMap<string, StoredTensor>; files: string[] }> {
  const mode = options.weights ?? 'auto';
  if (mode !== 'onnx') {
    const st = await readSafetensorsWeights(source);
    if (st !== null) return { kind: 'safetensors', ...st };
  }
  const onnxFile = options.onnxFile ?? DEFAULT_ONNX_FILE;
  if (mode !== 'safetensors') {
    const onnx = (await readOnnxFolderWeights(source, onnxFile)) ?? (options.onnxFile === undefined ? await readOnnxFolderWeights(source, LEGACY_ONNX_FILE) : null);
    if (onnx !== null) return { kind: 'onnx', ...onnx };
  }
  if (!source.isLocal && !remoteAllowed(options)) throw offlineMissingError(source.location, SAFETENSORS_FILE, options);
  const tried = mode === 'onnx' ? [onnxFile] : mode === 'safetensors' ? [SAFETENSORS_INDEX_FILE, SAFETENSORS_FILE] : [SAFETENSORS_INDEX_FILE, SAFETENSORS_FILE, onnxFile];
  const torchOnly = source.isLocal && existsSync(join(source.location, 'pytorch_model.bin'));
  throw new TsdError(`no weights found (looked for ${tried.join(', ')})${torchOnly ? '; pytorch_model.bin is not read: convert it to model.safetensors' : ''}`, { file: source.describe('') });
}

/** Runs `build`; if it throws, calls `dispose` (freeing what the loader made so far) and rethrows. */
async function disposingOnError<T>(dispose: () => void, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    dispose();
    throw error;
  }
}

async function loadTokenizer(request: boolean | string | undefined, source: ModelFileSource | null, options: HubOptions, vocabSize: number): Promise<Tokenizer | null> {
  if (request === false) return null;
  let tokenizer: Tokenizer | null = null;
  if (typeof request === 'string') {
    tokenizer = await Tokenizer.fromPretrained(request, options);
  } else if (source !== null) {
    if (source.isLocal && request !== true && !existsSync(join(source.location, 'tokenizer.json'))) return null;
    try {
      tokenizer = await Tokenizer.fromPretrained(source.location, options);
    } catch (error) {
      if (request === true) throw error;
      return null; // optional: a model without tokenizer files still loads
    }
  }
  if (tokenizer !== null && tokenizer.vocabSize > vocabSize) {
    throw new ConfigError(`the tokenizer has ${tokenizer.vocabSize} tokens but config.json has vocab_size ${vocabSize}`, {
      file: typeof request === 'string' ? request : (source?.describe('tokenizer.json') ?? 'tokenizer.json'),
    });
  }
  return tokenizer;
}
