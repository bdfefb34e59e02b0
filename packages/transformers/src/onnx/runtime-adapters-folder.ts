/**
 * Node side of runtime adapters: write a transformers.js folder whose
 * `onnx/model.onnx` has LoRA inputs (see `rewriteForRuntimeAdapters`), with the
 * manifest beside it, and read that manifest back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OnnxError } from '@tsd-peft/core';
import { resolveModelFolder, type ResolveModelFolderOptions } from '../loaders/hub-folder.js';
import { buildModelFolder, copyExternalData, externalDataFiles, planModelFolder, readBaseModel } from './model-folder.js';
import { writeChunksSync } from './node-io.js';
import { allLinearModules, parseRuntimeAdapterManifest, rewriteForRuntimeAdapters, type RuntimeAdapterManifest } from './runtime-adapters.js';

export { allLinearModules };

/** File name of the manifest, under `onnx/`. */
export const RUNTIME_ADAPTER_MANIFEST = 'runtime-adapters.json';

/** Options of {@link writeRuntimeAdapterModel}. */
export interface WriteRuntimeAdapterModelOptions extends ResolveModelFolderOptions {
  /** A transformers.js model folder, or a hub repo id (fetched into transformers.js's cache). */
  readonly base: string;
  readonly out: string;
  /** Modules to give LoRA inputs (HF paths), or `'all-linear'` (default). */
  readonly modules?: readonly string[] | 'all-linear';
  /** The ONNX file under `onnx/` (default `model.onnx`; any dtype variant: `model_fp16.onnx`, `model_quantized.onnx`, `model_q4.onnx`, …). */
  readonly modelFile?: string;
  readonly overwrite?: boolean;
}

/**
 * Copies the transformers.js folder `base` to `out` with `onnx/<modelFile>`
 * rewritten for runtime adapters and `onnx/runtime-adapters.json` beside it.
 * External data files are copied unchanged (the rewrite adds no weights).
 * Same folder rules as `exportForTransformersJs` (atomic; never touches base).
 */
export async function writeRuntimeAdapterModel(options: WriteRuntimeAdapterModelOptions): Promise<{ out: string; manifest: RuntimeAdapterManifest; files: string[] }> {
  const plan = await planModelFolder(await resolveModelFolder(options.base, options), options.out, options.overwrite === true);
  const name = options.modelFile ?? 'model.onnx';
  const model = await readBaseModel(plan.base, name);
  const modules = options.modules === undefined || options.modules === 'all-linear' ? allLinearModules(model) : options.modules;
  const rewrite = rewriteForRuntimeAdapters(model, modules);
  const files = await buildModelFolder(plan, async (tmp) => {
    writeChunksSync(join(tmp, 'onnx', name), rewrite.chunks);
    writeChunksSync(join(tmp, 'onnx', RUNTIME_ADAPTER_MANIFEST), [new TextEncoder().encode(`${JSON.stringify(rewrite.manifest, null, 2)}\n`)]);
    return [`onnx/${name}`, `onnx/${RUNTIME_ADAPTER_MANIFEST}`, ...(await copyExternalData(plan.base, tmp, externalDataFiles(model)))];
  });
  return { out: plan.out, manifest: rewrite.manifest, files };
}

/** Reads `<dir>/onnx/runtime-adapters.json` (or `<dir>/runtime-adapters.json`). */
export async function loadRuntimeAdapterManifest(dir: string): Promise<RuntimeAdapterManifest> {
  const candidates = [join(dir, 'onnx', RUNTIME_ADAPTER_MANIFEST), join(dir, RUNTIME_ADAPTER_MANIFEST)];
  for (const file of candidates) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return parseRuntimeAdapterManifest(text, file);
  }
  throw new OnnxError(`no onnx/${RUNTIME_ADAPTER_MANIFEST}: write the folder with writeRuntimeAdapterModel`, { file: dir });
}
