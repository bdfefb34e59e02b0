import { ConfigError } from '@tsd-peft/core';
import type { SentencePieceModel } from './model-proto.js';

/** The word-boundary marker SentencePiece uses for spaces. */
export const METASPACE = '\u2581';

/** A transformers.js / HF `tokenizers` added-token entry. */
export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The subset of the `tokenizer.json` format this converter writes (a BPE model). */
export interface TokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedToken[];
  normalizer: null;
  pre_tokenizer: { type: 'Metaspace'; replacement: string; prepend_scheme: 'first' | 'never'; split: boolean };
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown>;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: Array<[string, string]>;
  };
}

/**
 * BPE merges recovered from a SentencePiece BPE vocabulary. SentencePiece
 * stores no merge list: each learned piece's score is minus its merge order.
 * Every split of a piece into two pieces that are both in the vocabulary is a
 * merge that can produce it, ranked by the piece's score (higher first); ties
 * keep vocabulary order, then split position (shorter left part first) —
 * the order HF's converter produces (checked against the stories260K
 * tokenizer.json, where 13 pieces have several splits). Applying merges in this order with
 * byte fallback reproduces SentencePiece BPE segmentation (the same recipe as
 * HF's slow→fast Llama conversion).
 */
export function mergesFromScores(model: SentencePieceModel): Array<[string, string]> {
  const vocab = new Map(model.pieces.map((p, id) => [p.piece, id]));
  const candidates: Array<{ left: string; right: string; score: number }> = [];
  model.pieces.forEach((p) => {
    if (p.type !== 'normal' && p.type !== 'user-defined') return;
    const chars = Array.from(p.piece); // split on code points, never inside a surrogate pair
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      if (vocab.has(left) && vocab.has(right)) candidates.push({ left, right, score: p.score });
    }
  });
  // Array.prototype.sort is stable, so equal scores keep enumeration order.
  candidates.sort((a, b) => b.score - a.score);
  return candidates.map((c) => [c.left, c.right]);
}

/**
 * Converts a SentencePiece BPE model (with byte fallback, as Llama's and
 * llama2.c's tokenizers are) into a `tokenizer.json` that transformers.js
 * loads: the vocabulary in id order, merges from {@link mergesFromScores}, a
 * Metaspace pre-tokenizer that prepends "▁" to the first word (SentencePiece's
 * add_dummy_prefix), no normalizer, a post-processor that adds BOS, and the
 * Llama decoder (▁ → space, byte fallback, fuse, strip the dummy prefix).
 *
 * Like HF's converted Llama tokenizers this does not collapse runs of spaces
 * even when the model sets remove_extra_whitespaces; both agree on text
 * without double spaces. Throws {@link ConfigError} for non-BPE models.
 */
export function sentencePieceToTokenizerJson(model: SentencePieceModel, file?: string): TokenizerJson {
  const where = file === undefined ? {} : { file };
  if (model.modelType !== 'bpe') {
    throw new ConfigError(`only SentencePiece BPE models convert to a BPE tokenizer.json, this one is ${model.modelType}`, where);
  }
  const vocab: Record<string, number> = {};
  model.pieces.forEach((p, id) => {
    if (!(p.piece in vocab)) vocab[p.piece] = id;
  });
  const added_tokens: AddedToken[] = model.pieces.flatMap((p, id) =>
    p.type === 'unknown' || p.type === 'control' || p.type === 'user-defined'
      ? [{ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: p.type !== 'user-defined' }]
      : [],
  );
  const bos = model.bosId >= 0 ? model.pieces[model.bosId]?.piece : undefined;
  const post_processor =
    bos === undefined
      ? null
      : {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [bos]: { id: bos, ids: [model.bosId], tokens: [bos] } },
        };
  const decoders: Array<Record<string, unknown>> = [{ type: 'Replace', pattern: { String: METASPACE }, content: ' ' }];
  if (model.byteFallback) decoders.push({ type: 'ByteFallback' });
  decoders.push({ type: 'Fuse' });
  if (model.addDummyPrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: METASPACE, prepend_scheme: model.addDummyPrefix ? 'first' : 'never', split: false },
    post_processor,
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: model.byteFallback,
      ignore_merges: false,
      vocab,
      merges: mergesFromScores(model),
    },
  };
}

/**
 * The `tokenizer_config.json` transformers.js reads beside tokenizer.json
 * (special tokens and BOS/EOS behaviour, as for a Llama tokenizer).
 */
export function tokenizerConfigJson(model: SentencePieceModel): Record<string, unknown> {
  const piece = (id: number): string | null => (id >= 0 ? (model.pieces[id]?.piece ?? null) : null);
  return {
    add_bos_token: model.bosId >= 0,
    add_eos_token: false,
    bos_token: piece(model.bosId),
    eos_token: piece(model.eosId),
    unk_token: piece(model.unkId),
    pad_token: piece(model.padId),
    clean_up_tokenization_spaces: false,
    model_max_length: 1e30,
    tokenizer_class: 'LlamaTokenizer',
  };
}
