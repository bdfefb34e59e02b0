/**
 * A small tokenizer for SentencePiece-BPE vocabularies in `tokenizer.json`
 * (stories260K's `tok512`): spaces become `▁` with one prepended, as
 * SentencePiece normalises, then greedy longest match over the vocabulary,
 * with `<0xNN>` byte pieces for anything the vocabulary lacks. Greedy
 * matching is not BPE's merge order, so ids can differ from the reference
 * tokenizer's on some words, but every id sequence is one the model reads
 * (a valid segmentation of the same text), which is all fine-tuning needs.
 */

/** The part of tokenizer.json this reads. */
export interface TokenizerJson {
  model: { vocab: Record<string, number> };
}

/** Encodes text to ids; see the module comment. */
export class GreedyTokenizer {
  private readonly vocab: Map<string, number>;
  private readonly longest: number;

  constructor(json: TokenizerJson) {
    this.vocab = new Map(Object.entries(json.model.vocab));
    this.longest = Math.max(...[...this.vocab.keys()].map((k) => k.length));
  }

  /** The id of `<s>` (beginning of sequence), or 1 when the vocabulary has none. */
  get bosId(): number {
    return this.vocab.get('<s>') ?? 1;
  }

  /** Ids of `text` (no BOS). Throws when a byte has no `<0xNN>` piece. */
  encode(text: string): number[] {
    const s = '▁' + text.replace(/ /g, '▁');
    const ids: number[] = [];
    let i = 0;
    while (i < s.length) {
      let matched = 0;
      for (let len = Math.min(this.longest, s.length - i); len > 0; len--) {
        const id = this.vocab.get(s.slice(i, i + len));
        if (id !== undefined) {
          ids.push(id);
          matched = len;
          break;
        }
      }
      if (matched > 0) {
        i += matched;
        continue;
      }
      const cp = s.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      for (const byte of new TextEncoder().encode(ch)) {
        const piece = `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
        const id = this.vocab.get(piece);
        if (id === undefined) throw new Error(`the vocabulary has neither "${ch}" nor the byte piece ${piece}`);
        ids.push(id);
      }
      i += ch.length;
    }
    return ids;
  }
}
