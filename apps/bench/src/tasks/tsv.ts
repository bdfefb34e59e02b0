import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';

/** One labelled sentence of a GLUE-style TSV. */
export interface LabelledSentence {
  sentence: string;
  label: number;
}

/**
 * Reads GLUE's `sentence\tlabel` TSV (header line first). Throws
 * {@link ConfigError} naming the file and line on a malformed row or an
 * empty file.
 */
export function readSentenceTsv(file: string): LabelledSentence[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const header = (lines[0] ?? '').trim().split('\t');
  if (header[0] !== 'sentence' || header[1] !== 'label') {
    throw new ConfigError(`expected a "sentence\\tlabel" header, got "${(lines[0] ?? '').slice(0, 60)}"`, { file });
  }
  const out: LabelledSentence[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const tab = line.lastIndexOf('\t');
    const label = Number(line.slice(tab + 1).trim());
    if (tab === -1 || !(label === 0 || label === 1)) {
      throw new ConfigError(`line ${i + 1}: expected "sentence<TAB>0|1"`, { file });
    }
    out.push({ sentence: line.slice(0, tab).trim(), label });
  }
  if (out.length === 0) throw new ConfigError('no rows', { file });
  return out;
}
