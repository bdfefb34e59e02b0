import { padIdOf, type Tokenizer } from '@tsd-peft/transformers';
import type { BenchTokenizer } from '../model/types.js';

/**
 * The bench's tokenizer view of a transformers.js tokenizer (through
 * @tsd-peft/transformers' wrapper). BOS is added by hand rather than by the
 * post-processor, so prompt and completion pieces concatenate exactly and
 * tokenizers without a BOS behave the same way. The pad id is fineTune's
 * (`padIdOf`: the tokenizer's, else EOS, else 0) — padding never counts in a
 * loss or a score.
 */
export function benchTokenizer(tok: Tokenizer, vocabSize: number): BenchTokenizer {
  const bosId = tok.bosTokenId;
  const eosId = tok.eosTokenId;
  return {
    bosId,
    eosId,
    padId: padIdOf(tok),
    vocabSize,
    encode(text, options) {
      const ids = text === '' ? [] : tok.encode(text, { addSpecialTokens: false });
      return options?.addBos === true && bosId !== null ? [bosId, ...ids] : ids;
    },
    decode(ids) {
      return tok.decode(ids, { skipSpecialTokens: true });
    },
  };
}
