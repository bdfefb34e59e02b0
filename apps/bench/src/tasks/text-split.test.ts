import { readFileSync } from 'node:fs';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { stripEndOfText, trainValSplit } from './text-split.js';

describe('trainValSplit', () => {
  it('splits tinyshakespeare at the first blank line after 90% of the characters, losslessly', () => {
    const text = readFileSync(fixturePath('data', 'tinyshakespeare', 'input.txt'), 'utf8');
    const { train, val } = trainValSplit(text);
    expect(train + val).toBe(text);
    expect(train.endsWith('\n\n')).toBe(true);
    expect(train.length / text.length).toBeGreaterThanOrEqual(0.9);
    expect(train.length / text.length).toBeLessThan(0.901);
    expect(trainValSplit(text)).toEqual({ train, val }); // no randomness
  });

  it('falls back to the exact fraction when there is no blank line', () => {
    expect(trainValSplit('abcdefghij', 0.5)).toEqual({ train: 'abcde', val: 'fghij' });
  });

  it("strips the hub files' <|endoftext|> markers", () => {
    expect(stripEndOfText('a story.\n<|endoftext|>\nnext')).toBe('a story.\n\nnext');
  });
});
