/**
 * A transformers.js pipeline whose model takes LoRA adapters at run time, in
 * PEFT's terms: `loadAdapter` (PEFT `load_adapter`), `setAdapter`
 * (`set_adapter`), `disableAdapter` (`disable_adapter`), `deleteAdapter`
 * (`delete_adapter`), `activeAdapter` (`active_adapter`).
 *
 * How it reaches transformers.js, using only what it documents: the model's
 * ONNX file for the chosen dtype is rewritten in memory so each targeted
 * linear takes its adapter factors as graph inputs (`runtime-adapters.ts`),
 * and served to `pipeline()` from memory under a `model_file_name` no folder
 * has (`served-model-files.ts`); nothing is written anywhere. The adapter's
 * tensors are added to the model inputs by the instance's `forward`, the one
 * method that `_call` and `generate` run (each KV-cache step included);
 * transformers.js feeds a session every input it names. With no adapter every
 * factor has rank 0, which adds exact zeros: the base model's logits, bit for
 * bit. `transformers-internals.test.ts` pins each of these behaviours.
 */
import { Tensor, pipeline, type AllTasks, type PipelineType, type PretrainedModelOptions } from '@huggingface/transformers';
import { ConfigError, OnnxError, type LoraAdapterConfig, type PeftAdapter } from '@tsd-peft/core';
import { remoteUrl } from '../loaders/hub-url.js';
import { adapterFeedArrays, toHalfBits, type AdapterFeedArrays } from '../onnx/adapter-feeds.js';
import { parseOnnxModel } from '../onnx/onnx-model.js';
import type { AdapterUpdates } from '../onnx/patch.js';
import { concatBytes } from '../onnx/protobuf-wire.js';
import { allLinearModules, rewriteForRuntimeAdapters, type RuntimeAdapterManifest } from '../onnx/runtime-adapters.js';
import { externalDataFiles } from '../onnx/tensor-data.js';
import { dtypeSuffix, runtimeModelFileName } from './model-file.js';
import { withServedModelFiles, type FileReader } from './served-model-files.js';

/** An adapter: a PEFT folder path (Node) / what the entry's reader accepts, a loaded PEFT adapter, or module → factors. */
export type AdapterSource = string | PeftAdapter | AdapterUpdates;

/** Options of `adapterPipeline`: transformers.js's `pipeline()` options plus the modules to make switchable. */
export interface AdapterPipelineOptions extends PretrainedModelOptions {
  /**
   * Modules (HF paths, e.g. `model.layers.0.self_attn.q_proj`) that take
   * adapters, or `'all-linear'` (default: every linear but `lm_head`, as PEFT).
   */
  targetModules?: readonly string[] | 'all-linear';
}

/** The adapter controls added to the pipeline. */
export interface AdapterControls {
  /**
   * Loads an adapter under `adapterName` (PEFT `load_adapter`); it is not
   * activated. Checked completely before it is kept: typed errors for an
   * adapter of another base model, target modules the graph lacks, or a rank
   * that disagrees with `rank_pattern`. Loading again under a used name
   * replaces that adapter (and keeps it active if it was).
   */
  loadAdapter(adapterName: string, adapter: AdapterSource): Promise<void>;
  /**
   * Activates a loaded adapter, or `null` for the base model (PEFT
   * `set_adapter`). Synchronous and atomic; it applies from the next model
   * run, so await a generation before switching if the whole sequence must
   * use one adapter.
   */
  setAdapter(adapterName: string | null): void;
  /** Runs the base model from now on (PEFT `disable_adapter`); same as `setAdapter(null)`. */
  disableAdapter(): void;
  /** Forgets a loaded adapter; deleting the active one makes the base model active. */
  deleteAdapter(adapterName: string): void;
  /** The active adapter's name, or null for the base model. */
  readonly activeAdapter: string | null;
  /** Names of the loaded adapters, in load order. */
  readonly adapterNames: readonly string[];
  /** The modules that take adapters. */
  readonly targetModules: readonly string[];
}

/** A transformers.js pipeline of `task` with {@link AdapterControls}. */
export type AdapterPipeline<T extends PipelineType> = AllTasks[T] & AdapterControls;

/** Platform part: where the model and adapters come from. */
export interface AdapterPipelineIo {
  /**
   * The model's `<subfolder>/<file>` bytes and the location to hand
   * `pipeline()` (a folder, or the hub id itself).
   */
  readModel(model: string, file: string, options: AdapterPipelineOptions): Promise<{ location: string; bytes: Uint8Array; readCached?: (file: string) => Promise<Uint8Array | undefined> }>;
  /** Reads an adapter given as a string. */
  readAdapter(source: string): Promise<PeftAdapter> | PeftAdapter;
}

interface AdapterModel {
  sessions: Record<string, { inputNames: readonly string[] }>;
  forward(inputs: Record<string, unknown>): Promise<unknown>;
}

function isPeftAdapter(a: AdapterSource): a is PeftAdapter {
  return typeof a === 'object' && !(a instanceof Map) && 'modules' in a && 'config' in a;
}

function singleDtype(options: AdapterPipelineOptions): string {
  const d = options.dtype as unknown;
  if (d === undefined || d === null) return 'fp32';
  if (typeof d === 'string') return d;
  const model = (d as Record<string, unknown>)['model'];
  if (typeof model === 'string') return model;
  throw new ConfigError('dtype must be a string, or a per-session record with a "model" entry', { field: 'dtype' });
}

function feedTensors(arrays: AdapterFeedArrays): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, a] of arrays) {
    out[name] = a.type === 'float16' ? new Tensor('float16', toHalfBits(a.data), [...a.dims]) : new Tensor('float32', a.data, [...a.dims]);
  }
  return out;
}

/**
 * Builds the pipeline (see the file comment); `io` reads the model and
 * adapters for the platform. Exported for the Node and browser entries.
 */
export async function createAdapterPipeline<T extends PipelineType>(task: T, model: string, options: AdapterPipelineOptions, io: AdapterPipelineIo): Promise<AdapterPipeline<T>> {
  const { targetModules: wanted, ...pipelineOptions } = options;
  const dtype = singleDtype(options);
  const subfolder = options.subfolder ?? 'onnx';
  const file = `model${dtypeSuffix(dtype)}.onnx`;
  const { location, bytes, readCached } = await io.readModel(model, `${subfolder}/${file}`, options);
  const parsed = parseOnnxModel(bytes, `${model}/${subfolder}/${file}`);
  const graphModules = allLinearModules(parsed);
  const modules = wanted === undefined || wanted === 'all-linear' ? graphModules : [...wanted];
  if (modules.length === 0) throw new OnnxError('the graph has no linear module to take adapters', { file: `${model}/${subfolder}/${file}` });
  for (const m of modules) {
    if (!graphModules.includes(m)) throw new ConfigError(`targetModules names ${m}, which is not a linear module of the graph`, { field: 'targetModules', tensor: m });
  }
  const rewrite = rewriteForRuntimeAdapters(parsed, modules);
  const manifest: RuntimeAdapterManifest = rewrite.manifest;
  const fileName = runtimeModelFileName();
  // External data keeps its location; transformers.js fetches each file it is told of (path → bytes).
  const external = externalDataFiles(parsed);
  const sessionOptions = external.length === 0 ? options.session_options : { ...options.session_options, externalData: external.map((loc) => ({ path: loc, data: `${subfolder}/${loc}` })) };
  const pipe = (await withServedModelFiles(
    new Map([[`${subfolder}/${fileName}${dtypeSuffix(dtype)}.onnx`, concatBytes(rewrite.chunks)]]),
    () =>
      pipeline(task, location, {
        ...pipelineOptions,
        dtype: dtype as PretrainedModelOptions['dtype'],
        model_file_name: fileName,
        ...(external.length === 0 ? {} : { use_external_data_format: false }),
        ...(sessionOptions === undefined ? {} : { session_options: sessionOptions }),
      }),
    readCached === undefined ? undefined : hubFileReader(location, options.revision ?? 'main', readCached),
  )) as AllTasks[T];
  return attachAdapterControls(pipe, manifest, new Set(graphModules), io, location);
}

/** Normalizes a URL's path slashes ('a//b' → 'a/b'), keeping the scheme's '//'. */
const squash = (url: string): string => url.replace(/([^:/])\/{2,}/g, '$1/');

/** Answers transformers.js's requests for `<hub URL of model>/<file>` from `readCached(file)`. */
function hubFileReader(model: string, revision: string, readCached: (file: string) => Promise<Uint8Array | undefined>): FileReader {
  const prefix = squash(remoteUrl(model, revision, ''));
  return async (key) => {
    const k = squash(key);
    return k.startsWith(prefix) ? readCached(decodeURIComponent(k.slice(prefix.length))) : undefined;
  };
}

function attachAdapterControls<P>(pipe: P, manifest: RuntimeAdapterManifest, graphModules: ReadonlySet<string>, io: AdapterPipelineIo, location: string): P & AdapterControls {
  const target = (pipe as { model?: AdapterModel }).model;
  const inputs = manifest.slots.flatMap((s) => [s.inputA, s.inputB]);
  const sessions = Object.values(target?.sessions ?? {}).filter((s) => inputs.every((n) => s.inputNames.includes(n)));
  if (target === undefined || typeof target.forward !== 'function' || sessions.length !== 1) {
    throw new OnnxError(
      `transformers.js did not load the rewritten graph of ${location} as one session of pipeline.model (found ${sessions.length}); this transformers.js version loads models differently`,
    );
  }
  const base = feedTensors(adapterFeedArrays(manifest, null, { adapterName: 'none' }));
  const loaded = new Map<string, Record<string, Tensor>>();
  let active: string | null = null;
  let feeds = base;
  const forward = target.forward;
  // An own property on this model instance: the class and other models are untouched.
  Object.defineProperty(target, 'forward', {
    configurable: true,
    writable: true,
    value: function (this: AdapterModel, modelInputs: Record<string, unknown>) {
      return forward.call(this, { ...modelInputs, ...feeds });
    },
  });
  const controls: AdapterControls = {
    async loadAdapter(adapterName, adapter) {
      if (typeof adapterName !== 'string' || adapterName === '') throw new ConfigError('adapterName must be a non-empty string', { field: 'adapterName' });
      const resolved = typeof adapter === 'string' ? await io.readAdapter(adapter) : adapter;
      const peft = isPeftAdapter(resolved) ? resolved : undefined;
      const modules = peft === undefined ? (resolved as AdapterUpdates) : peft.modules;
      const config: LoraAdapterConfig | undefined = peft?.config;
      const tensors = feedTensors(
        adapterFeedArrays(manifest, modules, {
          adapterName,
          graphModules,
          ...(config === undefined ? {} : { config, baseModel: config.base_model_name_or_path ?? null }),
        }),
      );
      loaded.set(adapterName, tensors);
      if (active === adapterName) feeds = tensors;
    },
    setAdapter(adapterName) {
      if (adapterName === null) {
        active = null;
        feeds = base;
        return;
      }
      const tensors = loaded.get(adapterName);
      if (tensors === undefined) throw new ConfigError(`no adapter loaded as "${adapterName}" (loaded: ${[...loaded.keys()].join(', ') || 'none'})`, { field: 'adapterName' });
      active = adapterName;
      feeds = tensors;
    },
    disableAdapter() {
      controls.setAdapter(null);
    },
    deleteAdapter(adapterName) {
      if (!loaded.delete(adapterName)) throw new ConfigError(`no adapter loaded as "${adapterName}"`, { field: 'adapterName' });
      if (active === adapterName) controls.setAdapter(null);
    },
    get activeAdapter() {
      return active;
    },
    get adapterNames() {
      return [...loaded.keys()];
    },
    targetModules: manifest.slots.map((s) => s.module),
  };
  for (const key of Object.keys(controls) as (keyof AdapterControls)[]) {
    const d = Object.getOwnPropertyDescriptor(controls, key) as PropertyDescriptor;
    if (key in (pipe as object)) throw new OnnxError(`the pipeline already has a "${key}" member; refusing to shadow it`);
    Object.defineProperty(pipe, key, { ...d, enumerable: false });
  }
  return pipe as P & AdapterControls;
}
