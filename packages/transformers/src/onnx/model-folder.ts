/**
 * Writing a derived transformers.js model folder safely: the output must not
 * overlap the base folder, is built in a temporary folder beside it, and is
 * renamed into place only when complete.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ConfigError, OnnxError, TsdError } from '@tsd-peft/core';
import { parseOnnxModel, type OnnxModel } from './onnx-model.js';
import { externalDataFiles } from './tensor-data.js';

export { externalDataFiles };

/** Base and output folders after checks. */
export interface FolderPlan {
  readonly base: string;
  readonly out: string;
  readonly outExists: boolean;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

async function canonical(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    // `out` may not exist yet: canonicalize its parent so symlinked parents still compare equal.
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/**
 * Resolves and checks `base` (an existing folder) and `out`: refuses `out`
 * equal to, inside or containing `base`, and an existing `out` unless
 * `overwrite` ({@link ConfigError} naming the folder).
 */
export async function planModelFolder(baseIn: string, outIn: string, overwrite: boolean): Promise<FolderPlan> {
  const base = await canonical(baseIn);
  const out = await canonical(outIn);
  if (isInside(out, base) || isInside(base, out)) {
    throw new ConfigError(`out must be a new folder outside the base model folder ${base}; the base is never modified`, { file: out });
  }
  const baseStat = await stat(base).catch(() => undefined);
  if (baseStat?.isDirectory() !== true) throw new ConfigError('base model folder not found', { file: base });
  const outExists = (await stat(out).catch(() => undefined)) !== undefined;
  if (outExists && !overwrite) throw new ConfigError('out already exists; pass overwrite to replace it', { file: out });
  return { base, out, outExists };
}

/** Reads and parses `<base>/onnx/<name>`; OnnxError naming the file when absent or malformed. */
export async function readBaseModel(base: string, name: string): Promise<OnnxModel> {
  if (name.includes('/') || name.includes('\\') || name.startsWith('.') || !name.endsWith('.onnx')) {
    throw new ConfigError(`model file "${name}" must be a plain *.onnx file name under onnx/`);
  }
  const file = join(base, 'onnx', name);
  const bytes = await readFile(file).catch((cause: unknown) => {
    throw new OnnxError(`base folder has no onnx/${name}`, { file }, { cause });
  });
  return parseOnnxModel(new Uint8Array(bytes), file);
}

/**
 * The ONNX model files under `<base>/onnx/` (every `*.onnx`: transformers.js's
 * dtype variants), `model.onnx` first; {@link OnnxError} naming the folder when there is none.
 */
export async function modelVariants(base: string): Promise<string[]> {
  const dir = join(base, 'onnx');
  const names = await readdir(dir).catch((cause: unknown) => {
    throw new OnnxError('base folder has no onnx/ folder', { file: dir }, { cause });
  });
  const models = names.filter((n) => n.endsWith('.onnx') && !n.startsWith('.')).sort((a, b) => (a === 'model.onnx' ? -1 : b === 'model.onnx' ? 1 : a.localeCompare(b)));
  if (models.length === 0) throw new OnnxError('base folder has no onnx/*.onnx model', { file: dir });
  return models;
}

/**
 * Builds `plan.out`: makes a temporary folder beside it, copies every regular
 * file at the top of `base` into it, lets `fill(tmp)` write the rest (returning
 * the files it wrote, relative to tmp), and renames it to `out` (an existing
 * `out`, allowed by the plan, is moved aside first and removed after the swap).
 * On any failure the temporary folder is removed and `out` is left as it was.
 * Returns every file written, relative to `out`.
 */
export async function buildModelFolder(plan: FolderPlan, fill: (tmp: string) => Promise<string[]>): Promise<string[]> {
  const tmp = join(dirname(plan.out), `.${basename(plan.out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const files: string[] = [];
  try {
    await mkdir(join(tmp, 'onnx'), { recursive: true });
    for (const entry of await readdir(plan.base, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      await copyFile(join(plan.base, entry.name), join(tmp, entry.name));
      files.push(entry.name);
    }
    files.push(...(await fill(tmp)));
    await swapIntoPlace(tmp, plan.out, plan.outExists);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof TsdError) throw err;
    throw new TsdError(`writing the model folder failed: ${(err as Error).message}`, { file: plan.out }, 'TSD_ERROR', { cause: err });
  }
  return files;
}

/** Copies the external data files of a model from `<base>/onnx` to `<tmp>/onnx`; returns their relative paths. */
export async function copyExternalData(base: string, tmp: string, locations: readonly string[]): Promise<string[]> {
  const written: string[] = [];
  for (const loc of locations) {
    await mkdir(dirname(join(tmp, 'onnx', loc)), { recursive: true });
    await copyFile(join(base, 'onnx', loc), join(tmp, 'onnx', loc)).catch((cause: unknown) => {
      throw new OnnxError(`external data file "${loc}" is missing`, { file: join(base, 'onnx', loc) }, { cause });
    });
    written.push(`onnx/${loc}`);
  }
  return written;
}

async function swapIntoPlace(tmp: string, out: string, outExists: boolean): Promise<void> {
  if (!outExists) {
    await rename(tmp, out);
    return;
  }
  const old = `${tmp}.old`;
  await rename(out, old);
  try {
    await rename(tmp, out);
  } catch (err) {
    await rename(old, out);
    throw err;
  }
  await rm(old, { recursive: true, force: true });
}
