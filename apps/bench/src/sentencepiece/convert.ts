import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFilesAtomic } from '@tsd-peft/core/node';
import { readSentencePieceModel } from './model-proto.js';
import { sentencePieceToTokenizerJson, tokenizerConfigJson } from './tokenizer-json.js';

/**
 * Converts `<modelFile>` (a SentencePiece BPE `.model`) into
 * `tokenizer.json` + `tokenizer_config.json` in `outDir`, written atomically,
 * so transformers.js can load `outDir` as a tokenizer folder. Returns the
 * tokenizer.json path.
 */
export function convertSentencePieceFile(modelFile: string, outDir: string): string {
  const model = readSentencePieceModel(modelFile);
  const json = sentencePieceToTokenizerJson(model, modelFile);
  const path = join(outDir, 'tokenizer.json');
  mkdirSync(outDir, { recursive: true });
  writeFilesAtomic([
    [path, JSON.stringify(json, null, 2)],
    [join(outDir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(model), null, 2)],
  ]);
  return path;
}
