import type { BenchTokenizer } from '../model/types.js';

/**
 * Test helper: a character tokenizer over ASCII (id = code + 3; 0 pad, 1 BOS,
 * 2 EOS), so token counts in tests are exact and obvious.
 */
export function charTokenizer(): BenchTokenizer {
  return {
    bosId: 1,
    eosId: 2,
    padId: 0,
    vocabSize: 131,
    encode(text, options) {
      const ids = Array.from(text, (c) => Math.min(c.charCodeAt(0), 127) + 3);
      return options?.addBos === true ? [1, ...ids] : ids;
    },
    decode(ids) {
      return ids
        .filter((i) => i >= 3)
        .map((i) => String.fromCharCode(i - 3))
        .join('');
    },
  };
}
