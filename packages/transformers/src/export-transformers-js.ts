/**
 * Export a fine-tuned model for transformers.js: copy a transformers.js model
 * folder and merge an adapter into the weights of every dtype variant under
 * `onnx/` (fp32, fp16, q8, q4), so the result loads with plain
 * `pipeline('text-generation', dir, { dtype })` for any dtype the base had.
 */
import { join } from 'node:path';
import { ConfigError, OnnxError } from '@tsd-peft/core';
import { readPeftAdapterFolder } from '@tsd-peft/core/node';
import { resolveModelFolder, type ResolveModelFolderOptions } from './loaders/hub-folder.js';
import { buildModelFolder, copyExternalData, externalDataFiles, modelVariants, planModelFolder, readBaseModel } from './onnx/model-folder.js';
import { fileExternalDataReader, patchFileRangesSync, writeChunksSync } from './onnx/node-io.js';
import { patchOnnxModel, toModuleUpdate, type AdapterUpdates, type PatchedModule, type QuantizedMergeMode } from './onnx/patch.js';
import type { ExternalWrite } from './onnx/tensor-data.js';

/** An adapter to merge: a PEFT adapter folder, a loaded adapter (`{ modules }`), or a module → update map. */
export type ExportAdapterSource = string | { readonly modules: AdapterUpdates } | AdapterUpdates;

/** Options of {@link exportForTransformersJs}; hub options apply when `base` is a hub id. */
export interface ExportForTransformersJsOptions extends ResolveModelFolderOptions {
  /** The transformers.js model folder to start from (never modified), or a hub repo id (fetched into transformers.js's cache). */
  readonly base: string;
  readonly adapter: ExportAdapterSource;
  /** The folder to create. Must not be `base`, inside it, or contain it. */
  readonly out: string;
  /** Replaces each module's scaling (default: the adapter's own alpha/r or alpha/√r). */
  readonly scaling?: number;
  /**
   * ONNX files under `onnx/` to merge into (default: every `*.onnx` there — `model.onnx`,
   * `model_fp16.onnx`, `model_quantized.onnx`, `model_q4.onnx`, …, so every dtype
   * transformers.js may load gets its own merge). `.onnx` files not listed are not copied,
   * so no stale, unmerged variant is ever left beside merged ones.
   */
  readonly modelFiles?: readonly string[];
  /** How quantized variants get the adapter: `'side-branch'` (default) or `'requantize'` (see `OnnxPatchOptions.quantized`). */
  readonly quantized?: QuantizedMergeMode;
  /** Replace an existing `out` folder (default false: an existing `out` is an error). */
  readonly overwrite?: boolean;
}

/** What {@link exportForTransformersJs} wrote. */
export interface ExportForTransformersJsResult {
  readonly out: string;
  /** Files written, relative to `out`. */
  readonly files: string[];
  /** Per ONNX file, the modules merged into it. */
  readonly patched: Record<string, PatchedModule[]>;
}

/** Name of the provenance file written under `onnx/`. */
export const EXPORT_MANIFEST = 'tsd-peft-export.json';

/**
 * Resolves an {@link ExportAdapterSource} to module updates (reads a PEFT
 * folder with core's readPeftAdapterFolder); a PEFT DoRA adapter's magnitudes go
 * with their modules, so the merge rescales the rows as DoRA's merge does.
 */
export async function resolveAdapterUpdates(source: ExportAdapterSource): Promise<AdapterUpdates> {
  if (source instanceof Map) return source as AdapterUpdates;
  const adapter = typeof source === 'string' ? readPeftAdapterFolder(source) : (source as { readonly modules: AdapterUpdates; readonly magnitudes?: ReadonlyMap<string, Float32Array> });
  const magnitudes = adapter.magnitudes;
  if (magnitudes === undefined || magnitudes.size === 0) return adapter.modules;
  return new Map(
    [...adapter.modules].map(([module, u]) => {
      const m = magnitudes.get(module);
      return [module, m === undefined ? u : { ...toModuleUpdate(u), magnitude: m }] as const;
    }),
  );
}

/**
 * Copies the transformers.js folder `base` to `out` with the adapter merged:
 * every regular file at the top level (config.json, generation_config.json,
 * tokenizer files, …) is copied as is; each file of `modelFiles` under `onnx/`
 * is rewritten with W + scaling·B·A (+ dash) in the weight of each adapted
 * module's MatMul/Gemm — float weights in their own type, MatMulInteger and
 * MatMulNBits weights dequantized, merged and requantized with the variant's
 * own scheme (see `patchOnnxModel`) — and its external data files
 * (`model.onnx_data`, …) are copied and patched at the tensors' offsets. All
 * the math runs before anything is written; the folder is built in a temporary
 * folder beside `out` and renamed into place, so `out` is complete or absent.
 * `out` equal to, inside or containing `base` is refused ({@link ConfigError}).
 */
export async function exportForTransformersJs(options: ExportForTransformersJsOptions): Promise<ExportForTransformersJsResult> {
  const plan = await planModelFolder(await resolveModelFolder(options.base, options), options.out, options.overwrite === true);
  const updates = await resolveAdapterUpdates(options.adapter);
  const jobs: Array<{ name: string; chunks: Uint8Array[]; externalFiles: string[]; writes: ExternalWrite[]; modules: PatchedModule[] }> = [];
  const seenExternal = new Set<string>();
  for (const name of options.modelFiles ?? (await modelVariants(plan.base))) {
    const model = await readBaseModel(plan.base, name);
    const result = patchOnnxModel(model, updates, {
      external: fileExternalDataReader(join(plan.base, 'onnx')),
      ...(model.file === undefined ? {} : { file: model.file }),
      ...(options.scaling === undefined ? {} : { scaling: options.scaling }),
      ...(options.quantized === undefined ? {} : { quantized: options.quantized }),
    });
    const externalFiles = externalDataFiles(model);
    for (const loc of externalFiles) {
      if (seenExternal.has(loc)) throw new OnnxError(`external data file "${loc}" is shared by two model files; export them one at a time`, { file: join(plan.base, 'onnx', loc) });
      seenExternal.add(loc);
    }
    jobs.push({ name, chunks: result.chunks, externalFiles, writes: result.externalWrites, modules: result.modules });
  }
  const patched = Object.fromEntries(jobs.map((j) => [j.name, j.modules]));
  const files = await buildModelFolder(plan, async (tmp) => {
    const written: string[] = [];
    for (const job of jobs) {
      writeChunksSync(join(tmp, 'onnx', job.name), job.chunks);
      written.push(`onnx/${job.name}`, ...(await copyExternalData(plan.base, tmp, job.externalFiles)));
      const byFile = new Map<string, ExternalWrite[]>();
      for (const w of job.writes) byFile.set(w.location, [...(byFile.get(w.location) ?? []), w]);
      for (const [loc, writes] of byFile) patchFileRangesSync(join(tmp, 'onnx', loc), writes);
    }
    const manifest = { tool: '@tsd-peft/transformers exportForTransformersJs', scaling: options.scaling ?? null, quantized: options.quantized ?? 'side-branch', patched };
    writeChunksSync(join(tmp, 'onnx', EXPORT_MANIFEST), [new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`)]);
    written.push(`onnx/${EXPORT_MANIFEST}`);
    return written;
  });
  return { out: plan.out, files, patched };
}
