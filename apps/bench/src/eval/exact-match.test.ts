import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { answerText, exactMatchAccuracy } from './exact-match.js';

const tok = charTokenizer();
const id = (c: string): number => c.charCodeAt(0) + 3;

describe('exactMatchAccuracy', () => {
  it('compares the greedy answer up to the newline with the expected answer', async () => {
    const V = tok.vocabSize;
    const logits = new Float64Array(V * V);
    // "=" → " " → "4" → "2" → "\n" → "9" (the newline must stop decoding before the 9 counts)
    const chain: Array<[string, string]> = [
      ['=', ' '],
      [' ', '4'],
      ['4', '2'],
      ['2', '\n'],
      ['\n', '9'],
    ];
    for (const [a, b] of chain) logits[id(a) * V + id(b)] = 10;
    const model = new BigramModel(V, logits);
    const res = await exactMatchAccuracy(
      model,
      tok,
      [
        { prompt: '40+2=', answer: '42' },
        { prompt: '40+1=', answer: '41' },
      ],
      20,
    );
    expect(res.exactMatch).toBe(0.5);
    expect(res.samples[0]?.output).toBe('42');
  });

  it('answerText cuts at the first newline and trims', () => {
    expect(answerText(' 85\n12+3')).toBe('85');
    expect(answerText('  dog cat ')).toBe('dog cat');
  });
});
