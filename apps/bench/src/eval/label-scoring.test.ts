import { describe, expect, it } from 'vitest';
import { BigramModel } from '../testing/bigram-model.js';
import { charTokenizer } from '../testing/char-tokenizer.js';
import { completionRow, labelScoringAccuracy } from './label-scoring.js';

const tok = charTokenizer();
const id = (c: string): number => c.charCodeAt(0) + 3;

describe('completionRow', () => {
  it('puts targets on the completion tokens only, after BOS + prompt', () => {
    const row = completionRow(tok, 'ab', ' cd', 64);
    expect(row.ids).toEqual([1, id('a'), id('b'), id(' '), id('c'), id('d')]);
    expect(row.targetMask).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('drops prompt tokens from the left to fit, keeping BOS and the whole completion', () => {
    const row = completionRow(tok, 'abcdef', 'XY', 5);
    expect(row.ids).toEqual([1, id('e'), id('f'), id('X'), id('Y')]);
    expect(row.targetMask).toEqual([0, 0, 0, 1, 1]);
  });
});

describe('labelScoringAccuracy', () => {
  it('picks the label with the higher log-probability; a tie counts as wrong', async () => {
    const V = tok.vocabSize;
    const logits = new Float64Array(V * V);
    logits[id('A') * V + id('n')] = 3; // after "A" the model says "n"
    logits[id('B') * V + id('o')] = 3; // after "B" the model says "o"
    const model = new BigramModel(V, logits);
    const examples = [
      { prompt: 'A', label: 0 },
      { prompt: 'B', label: 1 },
      { prompt: 'B', label: 0 }, // the model is confidently wrong here
      { prompt: 'C', label: 0 }, // uniform after "C": a tie
    ];
    const { accuracy, n } = await labelScoringAccuracy(model, tok, examples, ['n', 'o'], 16);
    expect(n).toBe(4);
    expect(accuracy).toBe(2 / 4);
  });
});
