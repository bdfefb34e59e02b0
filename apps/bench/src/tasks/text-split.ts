/** Fraction of the text (by characters) that goes to training in {@link trainValSplit}. */
export const TRAIN_FRACTION = 0.9;

/**
 * A fixed, deterministic train/validation split of one text: the first 90% of
 * characters train, the rest validates (as in nanoGPT's Shakespeare split),
 * with the cut moved forward to the next blank line so no speech is cut in
 * half. The split depends only on the text, never on a seed.
 */
export function trainValSplit(text: string, fraction = TRAIN_FRACTION): { train: string; val: string } {
  const target = Math.floor(text.length * fraction);
  const blank = text.indexOf('\n\n', target);
  const cut = blank === -1 ? target : blank + 2;
  return { train: text.slice(0, cut), val: text.slice(cut) };
}

/**
 * Turns the `<|endoftext|>` markers of the hub's TinyStories files into blank
 * lines, the separator of the fixtures' sample, so both read the same way.
 */
export function stripEndOfText(text: string): string {
  return text.replace(/\n?<\|endoftext\|>\n?/g, '\n\n');
}
