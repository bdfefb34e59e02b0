import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@tsd-peft/core';
import { fixturePath } from '@tsd-peft/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from './tokenizer.js';

interface TokenizerCheck {
  test_strings: string[];
  test_ids: number[][];
}
interface Inputs {
  input3: { ids: number[][]; attention_mask: number[][]; texts: string[] };
}

describe('Tokenizer (transformers.js AutoTokenizer) on hf/stories260K', () => {
  let tok: Tokenizer;
  let check: TokenizerCheck;
  let inputs: Inputs;
  beforeAll(async () => {
    tok = await Tokenizer.fromPretrained(fixturePath('reference', 'hf', 'stories260K'));
    check = JSON.parse(readFileSync(fixturePath('reference', 'tokenizer-check.json'), 'utf8')) as TokenizerCheck;
    inputs = JSON.parse(readFileSync(fixturePath('reference', 'inputs.json'), 'utf8')) as Inputs;
  });

  it('reproduces the HF tokenizer ids of every test string', () => {
    expect(check.test_strings.length).toBeGreaterThan(3);
    check.test_strings.forEach((s, i) => expect(tok.encode(s), s).toEqual(check.test_ids[i]));
  });

  it('exposes special ids and vocabulary size', () => {
    expect([tok.bosTokenId, tok.eosTokenId, tok.vocabSize]).toEqual([1, 2, 512]);
    expect(tok.encode('Once upon a time', { addSpecialTokens: false })).toEqual([403, 407, 261, 378]);
  });

  it('batches with right padding by default: real ids and masks equal inputs.json input3', () => {
    const { inputIds, attentionMask } = tok.encodeBatch(inputs.input3.texts);
    expect(attentionMask).toEqual(inputs.input3.attention_mask);
    inputIds.forEach((row, b) =>
      row.forEach((id, t) => {
        if (attentionMask[b]![t] === 1) expect(id).toBe(inputs.input3.ids[b]![t]);
        else expect(id).toBe(tok.padTokenId);
      }),
    );
    expect(tok.hf.padding_side).toBe('left'); // the wrapped tokenizer's own setting is left untouched
  });

  it('pads left on request, truncates to maxLength and pads to max_length', () => {
    const left = tok.encodeBatch(inputs.input3.texts, { paddingSide: 'left' });
    expect(left.attentionMask[1]!.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    const cut = tok.encodeBatch(inputs.input3.texts, { maxLength: 6 });
    expect(cut.inputIds.map((r) => r.length)).toEqual([6, 6]);
    expect(cut.inputIds[0]).toEqual(inputs.input3.ids[0]!.slice(0, 6));
    const full = tok.encodeBatch(['Hi'], { padding: 'max_length', maxLength: 8 });
    const hi = tok.encode('Hi');
    expect(full.attentionMask[0]).toEqual([...hi.map(() => 1), ...new Array<number>(8 - hi.length).fill(0)]);
  });

  it('decodes, skipping special tokens by default', () => {
    expect(tok.decode(check.test_ids[1]!)).toBe(check.test_strings[1]);
    expect(tok.decode([1, 403], { skipSpecialTokens: false })).toBe('<s> Once');
    expect(tok.decodeBatch([check.test_ids[0]!, check.test_ids[2]!])).toEqual([check.test_strings[0], check.test_strings[2]]);
  });

  it('fails with ConfigError on folders without tokenizer files and on empty batches', async () => {
    await expect(Tokenizer.fromPretrained(join(fixturePath('models', 'stories260K')))).rejects.toThrow(ConfigError);
    expect(() => tok.encodeBatch([])).toThrow(ConfigError);
  });
});
