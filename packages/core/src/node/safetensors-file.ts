import { readFileSync } from 'node:fs';
import { SafetensorsError } from '../errors.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile, type SafetensorsTensor, type SerializeSafetensorsOptions } from '../safetensors.js';
import { writeFileAtomic } from './atomic-write.js';

/** Reads bytes of `path`, turning I/O failures into a {@link SafetensorsError} naming it. */
export function readFileBytes(path: string): Uint8Array {
  try {
    const buf = readFileSync(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (cause) {
    throw new SafetensorsError(`could not read file: ${(cause as Error).message}`, { file: path }, { cause });
  }
}

/** Reads and validates a safetensors file; tensors are views into one buffer. Errors name `path`. */
export function readSafetensorsFile(path: string): SafetensorsFile {
  return parseSafetensors(readFileBytes(path), path);
}

/** Writes tensors (and optional metadata) as a safetensors file, atomically, in the Python library's exact layout. */
export function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, SafetensorsTensor> | Readonly<Record<string, SafetensorsTensor>>,
  metadata?: Readonly<Record<string, string>>,
  options?: SerializeSafetensorsOptions,
): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, options));
}
