import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@tsd-peft/core';
import { writeFilesAtomic } from '@tsd-peft/core/node';
import { renderReportHtml } from './report-html.js';
import { renderResultsMarkdown } from './results-md.js';
import type { ResultsFile } from './schema.js';
import { validateResults } from './validate.js';

/** The machine-readable results inside `--out`. */
export const RESULTS_JSON = 'results.json';
/** The tables and verdicts inside `--out`. */
export const RESULTS_MD = 'results.md';
/** The self-contained chart page inside `--out`. */
export const REPORT_HTML = 'report.html';

/**
 * Reads and validates `<dir>/results.json`; null when there is none. A file
 * that is not valid JSON or not a v1 results file is an error (naming it),
 * never silently replaced: it may hold hours of runs.
 */
export function loadResults(dir: string): ResultsFile | null {
  const path = join(dir, RESULTS_JSON);
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`results.json is not valid JSON (${(error as Error).message}); move it away or use another --out`, { file: path });
  }
  return validateResults(json, path);
}

/**
 * Writes results.json, results.md and report.html atomically with core's
 * writer (all three staged and fsynced, then renamed, results.json first): an
 * interrupted write leaves the previous complete files in place.
 */
export function saveResults(dir: string, results: ResultsFile): void {
  mkdirSync(dir, { recursive: true });
  writeFilesAtomic([
    [join(dir, RESULTS_JSON), `${JSON.stringify(results, null, 1)}\n`],
    [join(dir, RESULTS_MD), renderResultsMarkdown(results)],
    [join(dir, REPORT_HTML), renderReportHtml(results)],
  ]);
}
