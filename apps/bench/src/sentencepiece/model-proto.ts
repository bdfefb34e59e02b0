import { readFileSync } from 'node:fs';
import { ConfigError } from '@tsd-peft/core';
import { float32, int64, readProtoFields, utf8, type ProtoField } from './protobuf.js';

/** SentencePiece piece types (sentencepiece_model.proto `SentencePiece.Type`). */
export type PieceType = 'normal' | 'unknown' | 'control' | 'user-defined' | 'unused' | 'byte';

const PIECE_TYPES: Record<number, PieceType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user-defined', 5: 'unused', 6: 'byte' };

/** One vocabulary entry; its id is its index. */
export interface Piece {
  piece: string;
  score: number;
  type: PieceType;
}

/** The parts of a SentencePiece `ModelProto` that a tokenizer.json needs. */
export interface SentencePieceModel {
  pieces: Piece[];
  /** `TrainerSpec.model_type`: the converter supports `bpe`. */
  modelType: 'unigram' | 'bpe' | 'word' | 'char';
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  /** `NormalizerSpec.add_dummy_prefix`: prepend "▁" to the input. */
  addDummyPrefix: boolean;
  /** `NormalizerSpec.remove_extra_whitespaces`: collapse runs of spaces (HF's tokenizer does not). */
  removeExtraWhitespaces: boolean;
  /** `NormalizerSpec.name`, e.g. "identity" or "nmt_nfkc". */
  normalizerName: string;
}

const MODEL_TYPES = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' } as const;

function varintOf(f: ProtoField): bigint {
  return f.wire === 0 ? f.value : 0n;
}

function bytesOf(f: ProtoField, file: string | undefined, what: string): Uint8Array {
  if (f.wire !== 2) throw new ConfigError(`${what} has wire type ${f.wire}, expected length-delimited`, file === undefined ? {} : { file });
  return f.value;
}

/**
 * Parses a SentencePiece `.model` file (a serialized `ModelProto`): field 1
 * pieces {1 piece, 2 score, 3 type}, field 2 TrainerSpec {3 model_type, 35
 * byte_fallback, 40–43 unk/bos/eos/pad ids}, field 3 NormalizerSpec {1 name,
 * 3 add_dummy_prefix, 4 remove_extra_whitespaces}. Defaults follow the proto
 * (unk 0, bos 1, eos 2, pad −1, unigram, dummy prefix and whitespace removal on).
 */
export function parseSentencePieceModel(bytes: Uint8Array, file?: string): SentencePieceModel {
  const where = file === undefined ? {} : { file };
  const model: SentencePieceModel = {
    pieces: [],
    modelType: 'unigram',
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    normalizerName: '',
  };
  for (const f of readProtoFields(bytes, file)) {
    if (f.field === 1) {
      const piece: Piece = { piece: '', score: 0, type: 'normal' };
      for (const p of readProtoFields(bytesOf(f, file, 'pieces'), file)) {
        if (p.field === 1) piece.piece = utf8(bytesOf(p, file, 'piece'));
        else if (p.field === 2 && p.wire === 5) piece.score = float32(p.value);
        else if (p.field === 3) {
          const type = PIECE_TYPES[Number(varintOf(p))];
          if (type === undefined) throw new ConfigError(`piece ${model.pieces.length} has unknown type ${varintOf(p)}`, where);
          piece.type = type;
        }
      }
      model.pieces.push(piece);
    } else if (f.field === 2) {
      for (const t of readProtoFields(bytesOf(f, file, 'trainer_spec'), file)) {
        if (t.wire !== 0) continue;
        if (t.field === 3) {
          const type = MODEL_TYPES[Number(t.value) as keyof typeof MODEL_TYPES];
          if (type === undefined) throw new ConfigError(`unknown model_type ${t.value}`, where);
          model.modelType = type;
        } else if (t.field === 35) model.byteFallback = t.value !== 0n;
        else if (t.field === 40) model.unkId = int64(t.value);
        else if (t.field === 41) model.bosId = int64(t.value);
        else if (t.field === 42) model.eosId = int64(t.value);
        else if (t.field === 43) model.padId = int64(t.value);
      }
    } else if (f.field === 3) {
      for (const n of readProtoFields(bytesOf(f, file, 'normalizer_spec'), file)) {
        if (n.field === 1 && n.wire === 2) model.normalizerName = utf8(n.value);
        else if (n.field === 3 && n.wire === 0) model.addDummyPrefix = n.value !== 0n;
        else if (n.field === 4 && n.wire === 0) model.removeExtraWhitespaces = n.value !== 0n;
      }
    }
  }
  if (model.pieces.length === 0) throw new ConfigError('SentencePiece model has no pieces', where);
  return model;
}

/** Reads and parses a `.model` file. */
export function readSentencePieceModel(file: string): SentencePieceModel {
  return parseSentencePieceModel(new Uint8Array(readFileSync(file)), file);
}
