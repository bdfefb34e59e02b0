/**
 * Node file I/O for the ONNX code: reading external data ranges without
 * loading whole files, streaming chunk lists to disk, and patching byte ranges
 * of a copied external data file.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxError } from '@tsd-peft/core';
import type { ExternalDataReader, ExternalWrite } from './tensor-data.js';

/**
 * An {@link ExternalDataReader} over files in `dir` (the model's folder).
 * Each read opens the file, checks the range against its size and reads just
 * those bytes; a short file throws {@link OnnxError} naming it.
 */
export function fileExternalDataReader(dir: string): ExternalDataReader {
  return {
    read(location: string, offset: number, length: number): Uint8Array {
      const path = join(dir, location);
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (cause) {
        throw new OnnxError(`cannot open external data file "${location}"`, { file: path }, { cause });
      }
      try {
        const size = fstatSync(fd).size;
        if (offset + length > size) {
          throw new OnnxError(`external data range [${offset}, ${offset + length}) is past the end of the ${size}-byte file`, { file: path });
        }
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) throw new OnnxError(`external data file ended early at byte ${offset + done}`, { file: path });
          done += n;
        }
        return out;
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Writes `chunks` in order to a new file at `path` and fsyncs it. */
export function writeChunksSync(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'wx');
  try {
    for (const c of chunks) {
      let done = 0;
      while (done < c.length) done += writeSync(fd, c, done, c.length - done);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Applies writes at their offsets into an existing file (a copy of the external data) and fsyncs it. */
export function patchFileRangesSync(path: string, writes: readonly ExternalWrite[]): void {
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    for (const w of writes) {
      if (w.offset + w.bytes.length > size) {
        throw new OnnxError(`write [${w.offset}, ${w.offset + w.bytes.length}) is past the end of the ${size}-byte file`, { file: path });
      }
      let done = 0;
      while (done < w.bytes.length) done += writeSync(fd, w.bytes, done, w.bytes.length - done, w.offset + done);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
