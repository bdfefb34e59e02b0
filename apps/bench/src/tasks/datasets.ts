import { fixturePath, hasFixture } from '@tsd-peft/core/testing';
import { cachedDownload, cachedFile, type DownloadOptions } from '../hub/download.js';
import type { DatasetId, DatasetResolver } from './types.js';

/** Where a dataset lives in the fixtures folder and where real users get it. */
export interface DatasetLocation {
  /** Path below `fixturesDir()`. */
  fixture: readonly string[];
  /** Path below the download cache. */
  cache: string;
  /** Human-readable source for messages and the report. */
  source: string;
}

/** The built-in datasets (see the fixtures README for licences). */
export const DATASETS: Readonly<Record<DatasetId, DatasetLocation>> = {
  tinyshakespeare: {
    fixture: ['data', 'tinyshakespeare', 'input.txt'],
    cache: 'datasets/tinyshakespeare/input.txt',
    // The canonical file (karpathy/char-rnn); the fixtures copy is byte-identical.
    source: 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt',
  },
  'tinystories-val': {
    fixture: ['data', 'tinystories', 'tinystories_val.txt'],
    cache: 'datasets/tinystories/TinyStories-valid.txt',
    source: 'https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStories-valid.txt',
  },
  'sst2-train': {
    fixture: ['data', 'sst2', 'train.tsv'],
    cache: 'datasets/sst2/train.tsv',
    source: 'https://datasets-server.huggingface.co/rows?dataset=stanfordnlp/sst2 (split train)',
  },
  'sst2-dev': {
    fixture: ['data', 'sst2', 'dev.tsv'],
    cache: 'datasets/sst2/dev.tsv',
    source: 'https://datasets-server.huggingface.co/rows?dataset=stanfordnlp/sst2 (split validation)',
  },
};

/** Options of {@link makeDatasetResolver}. */
export interface DatasetResolverOptions extends DownloadOptions {
  /** SST-2 train rows fetched when downloading (the API pages 100 rows per request). Default 2000. */
  sst2TrainRows?: number;
}

/**
 * A resolver that prefers the fixtures folder (`TSD_FIXTURES` or `../shared`),
 * then the download cache, then downloads into the cache. SST-2 comes from the
 * Hugging Face datasets-server rows API (GLUE's `stanfordnlp/sst2`, the same
 * sentences as GLUE's TSV) and is cached in the fixtures' TSV layout.
 */
export function makeDatasetResolver(options: DatasetResolverOptions = {}): DatasetResolver {
  return async (id) => {
    const loc = DATASETS[id];
    if (hasFixture(...loc.fixture)) return fixturePath(...loc.fixture);
    const hint = `put the file at ${loc.fixture.join('/')} under TSD_FIXTURES, or run once with network access`;
    if (id === 'sst2-train' || id === 'sst2-dev') {
      const split = id === 'sst2-dev' ? 'validation' : 'train';
      const rows = id === 'sst2-dev' ? 872 : (options.sst2TrainRows ?? 2000);
      return cachedFile(loc.cache, loc.source, (get) => fetchSst2Tsv(get, split, rows), { ...options, hint });
    }
    return cachedDownload(loc.source, loc.cache, { ...options, hint });
  };
}

/** Pages through the datasets-server rows API and writes `sentence\tlabel` TSV with a header. */
async function fetchSst2Tsv(get: (url: string) => Promise<Uint8Array>, split: string, total: number): Promise<Uint8Array> {
  const lines = ['sentence\tlabel'];
  for (let offset = 0; offset < total; offset += 100) {
    const length = Math.min(100, total - offset);
    const url = `https://datasets-server.huggingface.co/rows?dataset=stanfordnlp%2Fsst2&config=default&split=${split}&offset=${offset}&length=${length}`;
    const page = JSON.parse(new TextDecoder().decode(await get(url))) as { rows?: Array<{ row: { sentence: string; label: number } }> };
    const rows = page.rows ?? [];
    for (const { row } of rows) lines.push(`${row.sentence.replace(/[\t\n]/g, ' ')}\t${row.label}`);
    if (rows.length < length) break;
  }
  return new TextEncoder().encode(`${lines.join('\n')}\n`);
}
