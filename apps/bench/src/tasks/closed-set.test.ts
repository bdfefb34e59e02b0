import { describe, expect, it } from 'vitest';
import { closedLabelSet, majorityClass, MAX_LABELS } from './closed-set.js';

const pc = (completion: string, prompt = 'p') => ({ prompt, completion });

describe('closedLabelSet', () => {
  it('finds the labels of a classification file, in order of first appearance', () => {
    expect(closedLabelSet([pc(' no'), pc(' yes'), pc(' yes'), pc(' no')])).toEqual([' no', ' yes']);
  });

  it('accepts up to 20 labels and rejects 21', () => {
    const labels = (k: number) => Array.from({ length: k }, (_, i) => `L${i}`);
    const twice = (k: number) => [...labels(k), ...labels(k)].map((l) => pc(l));
    expect(closedLabelSet(twice(MAX_LABELS))).toHaveLength(20);
    expect(closedLabelSet(twice(MAX_LABELS + 1))).toBeNull();
  });

  it('is not a classification file when completions are mostly distinct, single-valued, or text', () => {
    expect(closedLabelSet([pc('a'), pc('b'), pc('c'), pc('d'), pc('e')])).toBeNull(); // generation
    expect(closedLabelSet([pc('a'), pc('b'), pc('a')])).toBeNull(); // 2 labels need ≥ 4 records
    expect(closedLabelSet([pc('a'), pc('a'), pc('a')])).toBeNull(); // one label: nothing to choose
    expect(closedLabelSet([{ text: 'a' }, { text: 'a' }])).toBeNull();
  });

  it('tells " yes" from "yes" (different tokens)', () => {
    expect(closedLabelSet([pc(' yes'), pc('yes'), pc(' yes'), pc('yes')])).toEqual([' yes', 'yes']);
  });
});

describe('majorityClass', () => {
  it('predicts the most frequent training label and scores it on the eval labels', () => {
    const m = majorityClass([' no', ' yes'], [pc(' yes'), pc(' yes'), pc(' no')], [' no', ' no', ' yes', ' no']);
    expect(m).toEqual({ label: ' yes', accuracy: 0.25 });
  });

  it('falls back to the eval labels when training has none, ties to the first label', () => {
    expect(majorityClass(['a', 'b'], [{ text: 'x' }], ['b', 'a', 'b'])).toEqual({ label: 'b', accuracy: 2 / 3 });
    expect(majorityClass(['a', 'b'], [pc('a'), pc('b')], ['b', 'b'])).toEqual({ label: 'a', accuracy: 0 });
  });
});
