/**
 * `adapterPipeline` for Node: the model is a local transformers.js folder or
 * a hub id (fetched into transformers.js's own file cache, the dtype's ONNX
 * file only), and a string adapter is a PEFT adapter folder, URL or hub id
 * (see `loadPeftAdapter`).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PipelineType } from '@huggingface/transformers';
import { OnnxError } from '@tsd-peft/core';
import { resolveModelFolder } from '../loaders/hub-folder.js';
import { loadPeftAdapter } from '../loaders/peft-adapter.js';
import { createAdapterPipeline, type AdapterPipeline, type AdapterPipelineIo, type AdapterPipelineOptions } from './adapter-pipeline.js';

const nodeIo: AdapterPipelineIo = {
  async readModel(model, file, options) {
    const onnxFile = file.startsWith('onnx/') ? file.slice('onnx/'.length) : undefined;
    const folder = await resolveModelFolder(model, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      ...(typeof options.cache_dir === 'string' ? { cacheDir: options.cache_dir } : {}),
      ...(options.local_files_only === true ? { localFilesOnly: true } : {}),
      ...(onnxFile === undefined ? {} : { onnxFiles: [onnxFile] }),
    });
    const path = join(folder, file);
    const bytes = await readFile(path).catch((cause: unknown) => {
      throw new OnnxError(`the model has no ${file} (is the dtype available for it?)`, { file: path }, { cause });
    });
    if (existsSync(model)) return { location: folder, bytes: new Uint8Array(bytes) };
    // A hub id goes to transformers.js as is (so its own switches apply); the files it asks for are
    // already in its file cache (fetched above), which the served-file hook would otherwise hide.
    const readCached = async (rel: string): Promise<Uint8Array | undefined> => {
      if (rel.includes('..')) return undefined;
      const b = await readFile(join(folder, rel)).catch(() => undefined);
      return b === undefined ? undefined : new Uint8Array(b);
    };
    return { location: model, bytes: new Uint8Array(bytes), readCached };
  },
  readAdapter: (source) => loadPeftAdapter(source),
};

/**
 * One call from a model id or folder to a transformers.js pipeline whose
 * adapters switch at run time (PEFT's `PeftModel.from_pretrained` +
 * `load_adapter` / `set_adapter` / `disable_adapter`). `options` are
 * `pipeline()`'s (`dtype`, `device`, `session_options`, `revision`, …) plus
 * `targetModules`. The graph is rewritten in memory; no folder is written.
 *
 * @example
 * const gen = await adapterPipeline('text-generation', 'onnx-community/SmolLM2-135M-Instruct', { dtype: 'q4' });
 * await gen.loadAdapter('pirate', './pirate');
 * gen.setAdapter('pirate');
 */
export function adapterPipeline<T extends PipelineType>(task: T, model: string, options: AdapterPipelineOptions = {}): Promise<AdapterPipeline<T>> {
  return createAdapterPipeline(task, model, options, nodeIo);
}
