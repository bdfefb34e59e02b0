import { ConfigError, Rng } from '@tsd-peft/core';

/** One training record: plain text, or a prompt whose completion alone is scored. */
export type TrainingExample = { text: string } | { prompt: string; completion: string };

/** A tokenized sequence and which of its tokens count as targets (1) in the loss. */
export interface TokenizedExample {
  ids: Int32Array;
  lossMask: Uint8Array;
}

/** A right-padded batch, row-major `[batch, seq]`. */
export interface TokenBatch {
  batch: number;
  seq: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  lossMask: Int32Array;
  /** Target tokens that count in the loss (for tokens/s). */
  tokens: number;
}

/** Turns text into token ids; callers bind a tokenizer (BOS handling is theirs). */
export type Encode = (text: string) => number[];

/**
 * Parses JSONL training data (`{text}` or `{prompt, completion}` per line).
 * Errors name the file and the 1-based line.
 */
export function parseJsonlExamples(source: string, file = '<jsonl>'): TrainingExample[] {
  const examples: TrainingExample[] = [];
  source.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (cause) {
      throw new ConfigError(`line ${index + 1} is not valid JSON`, { file }, { cause });
    }
    examples.push(toExample(record, file, index + 1));
  });
  if (examples.length === 0) throw new ConfigError('no training examples (the file is empty)', { file });
  return examples;
}

function toExample(record: unknown, file: string, line: number): TrainingExample {
  if (typeof record === 'object' && record !== null) {
    const r = record as Record<string, unknown>;
    if (typeof r.text === 'string') return { text: r.text };
    if (typeof r.prompt === 'string' && typeof r.completion === 'string') {
      return { prompt: r.prompt, completion: r.completion };
    }
  }
  throw new ConfigError(`line ${line} needs {"text": string} or {"prompt": string, "completion": string}`, { file });
}

/**
 * Tokenizes examples, truncating to `maxLength`. For prompt/completion pairs
 * only completion tokens are targets; `encodePrompt` encodes the prompt (with
 * BOS) and `encodeContinuation` the completion (without BOS).
 */
export function tokenizeExamples(examples: readonly TrainingExample[], encodePrompt: Encode, encodeContinuation: Encode, maxLength: number): TokenizedExample[] {
  return examples.map((example) => {
    const [prompt, completion] = 'text' in example ? [encodePrompt(example.text), []] : [encodePrompt(example.prompt), encodeContinuation(example.completion)];
    const ids = [...prompt, ...completion].slice(0, maxLength);
    const lossMask = new Uint8Array(ids.length);
    // Text: every token after the first is a target. Pairs: completion tokens only.
    lossMask.fill(1, 'text' in example ? 1 : prompt.length);
    return { ids: Int32Array.from(ids), lossMask };
  });
}

/** Cuts one long token stream into consecutive windows of `seqLen` tokens (the last partial one dropped). */
export function chunkTokenStream(ids: ArrayLike<number>, seqLen: number): TokenizedExample[] {
  const windows: TokenizedExample[] = [];
  for (let start = 0; start + seqLen <= ids.length; start += seqLen) {
    const window = Int32Array.from({ length: seqLen }, (_, i) => ids[start + i] as number);
    const lossMask = new Uint8Array(seqLen).fill(1, 1);
    windows.push({ ids: window, lossMask });
  }
  return windows;
}

/**
 * Deterministic batches over examples: each epoch is a seeded shuffle, and
 * batch `cursor` is a pure function of (seed, cursor), so a resumed run sees
 * exactly the batches an uninterrupted run would.
 */
export class BatchSource {
  private readonly order: number[][] = [];

  constructor(
    private readonly examples: readonly TokenizedExample[],
    private readonly options: { batchSize: number; seed: number; shuffle?: boolean; padId?: number },
  ) {
    if (examples.length === 0) throw new ConfigError('no training examples');
    if (options.batchSize < 1) throw new ConfigError(`batchSize must be ≥ 1, got ${options.batchSize}`);
  }

  /** Batches in one pass over the data (the last one wraps into the next epoch). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.examples.length / this.options.batchSize);
  }

  /** The batch at position `cursor` (0-based, unbounded: epochs repeat with new shuffles). */
  batchAt(cursor: number): TokenBatch {
    const { batchSize, padId = 0 } = this.options;
    const rows = Array.from({ length: batchSize }, (_, j) => this.exampleAt(cursor * batchSize + j));
    const seq = Math.max(...rows.map((r) => r.ids.length));
    const inputIds = new Int32Array(batchSize * seq).fill(padId);
    const attentionMask = new Int32Array(batchSize * seq);
    const lossMask = new Int32Array(batchSize * seq);
    let tokens = 0;
    rows.forEach((row, j) => {
      inputIds.set(row.ids, j * seq);
      attentionMask.fill(1, j * seq, j * seq + row.ids.length);
      row.lossMask.forEach((m, t) => {
        lossMask[j * seq + t] = m;
        tokens += m;
      });
    });
    return { batch: batchSize, seq, inputIds, attentionMask, lossMask, tokens };
  }

  private exampleAt(position: number): TokenizedExample {
    const n = this.examples.length;
    const epoch = Math.floor(position / n);
    while (this.order.length <= epoch) {
      const indices = Array.from({ length: n }, (_, i) => i);
      if (this.options.shuffle !== false) Rng.fromSeed(this.options.seed + 7919 * this.order.length).shuffle(indices);
      this.order.push(indices);
    }
    return this.examples[(this.order[epoch] as number[])[position % n] as number] as TokenizedExample;
  }
}
