import { describe, expect, it } from 'vitest';
import { syntheticResults, type SyntheticGroup } from '../testing/synthetic-results.js';
import { renderResultsMarkdown } from './results-md.js';
import { summarize } from './aggregate.js';
import { validateResults } from './validate.js';
import { compare, compareGroups, comparePaired, judgeClaims, overallVerdict } from './verdicts.js';
import { pairedDifference } from '../stats/paired.js';
import { meanCi } from '../stats/summary.js';
import { runOverlap, tsdOverlapAcrossTasks } from './tsd-overlap.js';

const g = (task: string, method: SyntheticGroup['method'], r: number, mean: number, noise = 0.01, seeds = 3): SyntheticGroup => ({ task, method, r, mean, noise, seeds });

describe('validateResults', () => {
  const file = syntheticResults([g('shakespeare', 'lora', 8, 3.5), g('shakespeare', 'lora-dash', 8, 3.4)]);

  it('accepts a well-formed file (round-tripped through JSON)', () => {
    expect(validateResults(JSON.parse(JSON.stringify(file))).runs).toHaveLength(6);
  });

  it('names the offending field', () => {
    const bad = JSON.parse(JSON.stringify(file)) as { schemaVersion: number; runs: Array<Record<string, unknown>> };
    expect(() => validateResults({ ...bad, schemaVersion: 2 }, 'x/results.json')).toThrow('results.json field schemaVersion: expected 1, got 2 (file x/results.json)');
    const runs = bad.runs.map((r) => ({ ...r }));
    (runs[1] as Record<string, unknown>)['final'] = { val_nll: 'low' };
    expect(() => validateResults({ ...bad, runs })).toThrow('field runs[1].final.val_nll: expected a finite number');
    expect(() => validateResults({ ...bad, runs: [bad.runs[0], bad.runs[0]] })).toThrow(/duplicate run shakespeare\/lora\/r8\/seed0/);
    expect(() => validateResults({ ...bad, runs: [{ ...bad.runs[0], key: 'x' }] })).toThrow(/runs\[0\]\.key: expected shakespeare\/lora\/r8\/seed0/);
  });
});

describe('verdicts', () => {
  it("compare decides only on disjoint intervals, in the metric's direction", () => {
    const low = meanCi([1.0, 1.01, 0.99]);
    const high = meanCi([2.0, 2.01, 1.99]);
    expect(compare(low, high, 'lower')).toBe('reproduced');
    expect(compare(low, high, 'higher')).toBe('not reproduced');
    expect(compare(high, low, 'lower')).toBe('not reproduced');
    expect(compare(meanCi([1, 2, 3]), meanCi([1.5, 2.5, 3.5]), 'lower')).toBe('inconclusive (CIs overlap)');
    expect(compare(meanCi([1]), high, 'lower')).toBe('inconclusive (fewer than 2 seeds)');
  });

  it("comparePaired decides on the seed-matched interval, in the metric's direction", () => {
    const sv = (xs: number[]) => xs.map((value, seed) => ({ seed, value }));
    // the example: every seed favours the challenger, but 3 pairs leave 0 inside the interval
    const names = pairedDifference(sv([2.9426, 2.9445, 2.9483]), sv([2.944, 2.95, 2.952]));
    expect(names.aLower).toBe(3);
    expect(comparePaired(names, 'lower')).toBe('inconclusive (paired interval includes 0)');
    const clear = pairedDifference(sv([1.0, 2.0, 3.0]), sv([1.1, 2.12, 3.09]));
    expect(comparePaired(clear, 'lower')).toBe('reproduced');
    expect(comparePaired(clear, 'higher')).toBe('not reproduced');
    expect(comparePaired(pairedDifference(sv([1]), sv([2])), 'lower')).toBe('inconclusive (fewer than 2 seeds)');
  });

  it('pairs by seed where groups share seeds, where the unpaired rule would not decide', () => {
    // large seed-to-seed spread shared by both methods, a small consistent gain: CIs overlap, differences do not straddle 0
    const results = syntheticResults([g('shakespeare', 'lora', 8, 3.5, 0), g('shakespeare', 'lora-dash', 8, 3.49, 0)]);
    results.runs.forEach((r) => {
      const shift = [0.3, -0.2, 0.1][r.config.seed] ?? 0;
      r.final['val_nll'] = (r.final['val_nll'] as number) + shift + (r.config.method === 'lora' ? 0.001 * r.config.seed : 0);
    });
    const groups = summarize(results);
    const [lora, dash] = [groups.find((x) => x.method === 'lora'), groups.find((x) => x.method === 'lora-dash')];
    if (lora === undefined || dash === undefined) throw new Error('groups');
    expect(compare(dash.final, lora.final, 'lower')).toBe('inconclusive (CIs overlap)');
    const cmp = compareGroups(dash, lora, { label: 'val NLL', better: 'lower' });
    expect(cmp.verdict).toBe('reproduced');
    expect(cmp.paired?.n).toBe(3);
    expect(cmp.detail).toMatch(/^lora-dash r8 − lora r8 = −?-0\.01\d* \[-0\.01\d*, -0\.0\d*\] over 3 paired seeds \(3 favour lora-dash, 0 favour lora\); lora-dash r8 3\.\d+ ± /);
    // no shared seeds: the unpaired rule
    results.runs.filter((r) => r.config.method === 'lora-dash').forEach((r) => (r.config.seed += 10));
    const unpaired = compareGroups(summarize(results).find((x) => x.method === 'lora-dash') ?? dash, lora, { label: 'val NLL', better: 'lower' });
    expect(unpaired.paired).toBeNull();
    expect(unpaired.verdict).toBe('inconclusive (CIs overlap)');
    expect(unpaired.detail).toContain('unpaired (fewer than 2 shared seeds)');
  });

  it('overall: strict majority and no contradiction, else inconclusive', () => {
    expect(overallVerdict(['reproduced', 'reproduced', 'inconclusive (CIs overlap)'], '')).toBe('reproduced');
    expect(overallVerdict(['reproduced', 'inconclusive (CIs overlap)'], '')).toBe('inconclusive (CIs overlap)');
    expect(overallVerdict(['reproduced', 'not reproduced', 'reproduced'], '')).toMatch(/^inconclusive \(mixed/);
    expect(overallVerdict(['not reproduced'], '')).toBe('not reproduced');
    expect(overallVerdict([], 'run --preset efficiency')).toBe('not tested (run --preset efficiency)');
  });

  it('judges every claim on the right pairs, honestly when LoRA wins', () => {
    const results = syntheticResults([
      g('shakespeare', 'lora', 8, 3.5),
      g('shakespeare', 'lora-dash', 8, 3.3), // clearly better: reproduced
      g('shakespeare', 'lora-dash', 1, 3.8), // r/8 clearly worse: not reproduced
      g('shakespeare', 'lora-init', 8, 3.5, 0.2), // noisy: overlaps
      g('sst2', 'lora', 8, 0.7),
      g('sst2', 'lora-dash', 8, 0.6), // accuracy lower: not reproduced on sst2
    ]);
    const claims = Object.fromEntries(judgeClaims(results).map((c) => [c.id, c]));
    expect(claims['dash-equal-rank']?.comparisons.map((c) => [c.task, c.verdict])).toEqual([
      ['shakespeare', 'reproduced'],
      ['sst2', 'not reproduced'],
    ]);
    expect(claims['dash-equal-rank']?.overall).toMatch(/^inconclusive \(mixed/);
    expect(claims['dash-r-over-8']?.comparisons.map((c) => [c.challenger.r, c.baseline.r, c.verdict])).toEqual([[1, 8, 'not reproduced']]);
    expect(claims['dash-r-over-8']?.overall).toBe('not reproduced');
    expect(claims['init-improves']?.overall).toBe('inconclusive (paired interval includes 0)');
    expect(claims['tsd-improves']?.overall).toBe('not tested (run lora and lora-tsd at the same r)');
  });
});

describe('results.md', () => {
  it('has a table row per method with mean ± CI, params and time, and a verdict line per claim', () => {
    const results = syntheticResults([g('shakespeare', 'full', 8, 3.2), g('shakespeare', 'lora', 8, 3.5), g('shakespeare', 'lora-dash', 8, 3.3)]);
    const md = renderResultsMarkdown(results);
    const groups = summarize(results);
    const dash = groups.find((x) => x.method === 'lora-dash');
    expect(md).toContain('## shakespeare: val NLL (lower is better)');
    expect(md).toMatch(/\| lora-dash \| 8 \| 3 \| 3\.\d{3} ± 0\.\d+ \|/);
    expect(md).toContain(`| ${(dash?.trainableParams ?? 0).toLocaleString('en-US')} |`);
    expect(md).toContain('| full | — | 3 |');
    expect(md).toContain('- **LoRA-Dash beats LoRA at equal rank** (paper: LLaMA-7B commonsense average 78.4 vs 74.7, both r = 32): **reproduced**');
    expect(md).toContain('**LoRA-Dash at r/8 beats LoRA at r**');
    expect(md).toContain('Base model before training: 4.840.');
    expect(md.match(/^- \*\*/gm)).toHaveLength(4);
    expect(md).toMatch(/ {2}- shakespeare: reproduced — lora-dash r8 − lora r8 = -0\.\d+ \[-0\.\d+, -0\.\d+\] over 3 paired seeds/);
    expect(md).toMatch(/ {4}- per-seed differences: seed 0 -0\.\d+, seed 1 -0\.\d+, seed 2 -0\.\d+/);
  });

  it('shows the majority-class baseline of a labelled task, and the file round-trips', () => {
    const results = syntheticResults([g('sst2', 'lora', 8, 0.7), g('sst2', 'lora-dash', 8, 0.72)]);
    const task = results.tasks.find((t) => t.name === 'sst2');
    if (task === undefined) throw new Error('task');
    task.majorityClass = { label: ' no', accuracy: 0.6875 };
    expect(renderResultsMarkdown(results)).toContain('Majority-class baseline (always " no", the most frequent training label): 0.6875.');
    expect(validateResults(JSON.parse(JSON.stringify(results))).tasks.find((t) => t.name === 'sst2')?.majorityClass).toEqual({ label: ' no', accuracy: 0.6875 });
    task.majorityClass = { label: 3 } as unknown as typeof task.majorityClass;
    expect(() => validateResults(JSON.parse(JSON.stringify(results)))).toThrow(/majorityClass\.label: expected a string/);
  });

  it('lists failed runs', () => {
    const results = syntheticResults([g('shakespeare', 'lora', 8, 3.5, 0.01, 2)]);
    const run = results.runs[1];
    if (run === undefined) throw new Error('no run');
    run.status = 'failed';
    run.error = 'NonFiniteError: loss is NaN at step 3';
    const md = renderResultsMarkdown(results);
    expect(md).toContain('| lora | 8 | 1 (+1 failed) |');
    expect(md).toContain('- shakespeare/lora/r8/seed1: NonFiniteError: loss is NaN at step 3');
  });
});

describe('TSD overlap', () => {
  it('is high between seeds of a task and low across tasks (synthetic selections)', () => {
    const results = syntheticResults([g('shakespeare', 'lora-dash', 8, 3.3), g('sst2', 'lora-dash', 8, 0.7)]);
    const m = tsdOverlapAcrossTasks(results);
    expect(m?.tasks).toEqual(['shakespeare', 'sst2']);
    // seeds 0 and 2 pick the same 4; seed 1 differs in one: pairs (0,1),(0,2),(1,2) → (3/4 + 1 + 3/4)/3
    expect(m?.values[0]?.[0]).toBeCloseTo((0.75 + 1 + 0.75) / 3, 12);
    expect(m?.values[0]?.[1]).toBe(0);
    const [a, b] = results.runs;
    if (a === undefined || b === undefined) throw new Error('runs');
    expect(runOverlap(a, a)).toBe(1);
  });
});
