import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { convertSentencePieceFile } from './convert.js';
import { parseSentencePieceModel, readSentencePieceModel } from './model-proto.js';
import { readProtoFields } from './protobuf.js';
import { mergesFromScores, sentencePieceToTokenizerJson, type TokenizerJson } from './tokenizer-json.js';

const spFile = fixturePath('models', 'stories260K', 'tok512.model');
const refJsonFile = fixturePath('reference', 'hf', 'stories260K', 'tokenizer.json');
const reference = JSON.parse(readFileSync(refJsonFile, 'utf8')) as TokenizerJson;
const converted = sentencePieceToTokenizerJson(readSentencePieceModel(spFile), spFile);

async function loadTokenizer(dir: string) {
  env.allowRemoteModels = false;
  env.localModelPath = dirname(dir);
  return AutoTokenizer.from_pretrained(dir.split('/').at(-1) as string);
}

describe('protobuf reader', () => {
  it('reads varints (incl. 10-byte negatives), length-delimited and 32-bit fields', () => {
    // field 1 varint 300; field 43 varint −1 (10 bytes); field 2 bytes "hi"; field 3 fixed32
    const bytes = Uint8Array.from([0x08, 0xac, 0x02, 0xd8, 0x02, ...new Array(9).fill(0xff), 0x01, 0x12, 0x02, 0x68, 0x69, 0x1d, 0, 0, 0x80, 0x3f]);
    const fields = readProtoFields(bytes);
    expect(fields.map((f) => [f.field, f.wire])).toEqual([
      [1, 0],
      [43, 0],
      [2, 2],
      [3, 5],
    ]);
    expect(fields[0]?.value).toBe(300n);
    expect(BigInt.asIntN(64, fields[1]?.value as bigint)).toBe(-1n);
  });

  it('rejects truncated input, naming the file', () => {
    expect(() => readProtoFields(Uint8Array.from([0x12, 0x05, 0x68]), 'x.model')).toThrow(/malformed protobuf: field 2 declares 5 bytes but only 1 remain.*\(file x\.model\)/);
    expect(() => parseSentencePieceModel(new Uint8Array(0), 'y.model')).toThrow(/no pieces \(file y\.model\)/);
  });
});

describe('tok512.model → tokenizer.json', () => {
  it('reads the model as documented: 512 pieces, BPE, byte fallback, ids 0–2 special, 3–258 bytes', () => {
    const m = readSentencePieceModel(spFile);
    expect(m.pieces).toHaveLength(512);
    expect(m).toMatchObject({ modelType: 'bpe', byteFallback: true, unkId: 0, bosId: 1, eosId: 2, padId: -1, addDummyPrefix: true, removeExtraWhitespaces: true });
    expect(m.pieces.slice(0, 3).map((p) => p.type)).toEqual(['unknown', 'control', 'control']);
    expect(m.pieces.slice(3, 259).every((p, i) => p.type === 'byte' && p.piece === `<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`)).toBe(true);
  });

  it('has exactly the reference vocabulary, merges (in order), special tokens, pre-tokenizer and decoder', () => {
    expect(converted.model.vocab).toEqual(reference.model.vocab);
    expect(mergesFromScores(readSentencePieceModel(spFile))).toEqual(reference.model.merges);
    expect(converted.model.merges).toHaveLength(165);
    expect(converted.added_tokens).toEqual(reference.added_tokens);
    expect(converted.pre_tokenizer).toEqual(reference.pre_tokenizer);
    expect(converted.decoder).toEqual(reference.decoder);
    expect(converted.post_processor).toEqual(reference.post_processor);
    expect(converted.normalizer).toBeNull();
    expect({ ...converted.model, vocab: null, merges: null }).toEqual({ ...reference.model, vocab: null, merges: null });
  });

  it('encodes like the reference tokenizer.json in transformers.js, incl. the whole-file prefix the fixtures use', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-sp-'));
    const dir = join(out, 'tok512');
    convertSentencePieceFile(spFile, dir);
    const ours = await loadTokenizer(dir);
    const ref = await loadTokenizer(dirname(refJsonFile));
    const check = JSON.parse(readFileSync(fixturePath('reference', 'tokenizer-check.json'), 'utf8')) as { test_strings: string[]; test_ids: number[][] };
    check.test_strings.forEach((text, i) => {
      expect(ours.encode(text)).toEqual(check.test_ids[i]);
    });
    const extra = ['  two  spaces', 'tabs\tand\nnewlines\n\n', 'emoji 🙂 and 中文 fall back to bytes', ''];
    for (const text of extra) expect(ours.encode(text)).toEqual(ref.encode(text));
    // The reference trajectory's batches are the first 10 240 tokens of the BOS-free whole-file tokenization.
    const text = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8');
    const batches = JSON.parse(readFileSync(fixturePath('reference', 'lora-dash-trajectory', 'batches.json'), 'utf8')) as { batches: number[][][] };
    const expected = batches.batches.flat(2);
    // ≈ 25k tokens: the prefix ends mid-word, which only affects ids far past the 10 240 compared with the fixture
    const prefix = text.slice(0, 40_000);
    const ids = ours.encode(prefix, { add_special_tokens: false });
    expect(ids.slice(0, expected.length)).toEqual(expected);
    expect(ids).toEqual(ref.encode(prefix, { add_special_tokens: false }));
    expect(ours.decode(ids)).toBe(prefix);
  });

  it('rejects non-BPE models', () => {
    const m = { ...readSentencePieceModel(spFile), modelType: 'unigram' as const };
    expect(() => sentencePieceToTokenizerJson(m, 'u.model')).toThrow(/only SentencePiece BPE .* unigram \(file u\.model\)/);
  });
});
