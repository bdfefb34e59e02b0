import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH as CHROMIUM } from '../../../../tooling/scripts/system-deps.mjs';
import { benchMethods } from './methods.js';
import { syntheticResults, type SyntheticGroup } from '../testing/synthetic-results.js';
import { renderReportHtml } from './report-html.js';

const groups: SyntheticGroup[] = [
  ...benchMethods().map((method, i): SyntheticGroup => ({ task: 'shakespeare', method, r: 8, mean: 3.5 - 0.02 * i, noise: 0.02, seeds: 3 })),
  ...benchMethods().map((method, i): SyntheticGroup => ({ task: 'sst2', method, r: 8, mean: 0.6 + 0.01 * i, noise: 0.02, seeds: 3 })),
  { task: 'shakespeare', method: 'lora-dash', r: 1, mean: 3.6, noise: 0.02, seeds: 3 },
];
const results = syntheticResults(groups);
const html = renderReportHtml(results);

describe('report.html (static checks)', () => {
  it('is self-contained: no scripts, no external URLs, a CSP that forbids fetches', () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe|url\(/i);
    expect(html).not.toMatch(/(src|href)=/i);
    expect(html).toContain("default-src 'none'");
    // the only URL-like text is the SVG namespace
    expect(html.match(/https?:\/\/[^\s"<]+/g)?.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
  });

  it('escapes text from the results file', () => {
    const nasty = syntheticResults([{ task: 'shakespeare', method: 'lora', r: 8, mean: 3, noise: 0.1, seeds: 2 }]);
    nasty.model.id = '<script>alert(1)</script>';
    expect(renderReportHtml(nasty)).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(renderReportHtml(nasty)).not.toContain('<script>alert');
  });
});

describe('report.html in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the report test needs Debian's chromium (npm test installs it as root; else apt-get install -y chromium)`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws every chart with data, without console errors or network requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsd-report-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const drawn = await page.evaluate(() => {
      const count = (sel: string): number => document.querySelectorAll(sel).length;
      const charts = Array.from(document.querySelectorAll('svg.chart')).map((s) => s.getAttribute('data-chart'));
      // getBBox proves the browser laid the shapes out with a real size
      const seriesWidths = Array.from(document.querySelectorAll('path.series')).map((p) => (p as SVGGraphicsElement).getBBox().width);
      const barHeights = Array.from(document.querySelectorAll('rect.bar')).map((r) => (r as SVGGraphicsElement).getBBox().height);
      return {
        charts,
        series: count('path.series'),
        bars: count('rect.bar'),
        errs: count('line.err'),
        points: count('circle.point'),
        rates: count('rect.rate'),
        tsd: count('path.tsd'),
        cells: count('rect.cell'),
        empty: count('.empty'),
        verdicts: count('.verdict'),
        seedDiffs: count('circle.seed-diff'),
        diffCis: Array.from(document.querySelectorAll('line.diff-ci')).map((l) => (l as SVGGraphicsElement).getBBox().width),
        seriesWidths,
        barHeights,
      };
    });
    expect(errors).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(drawn.charts.filter((c) => c === 'line')).toHaveLength(2);
    expect(drawn.charts.filter((c) => c === 'bar')).toHaveLength(2);
    expect(drawn.charts.filter((c) => c === 'scatter')).toHaveLength(2);
    expect(drawn.charts).toContain('spectrum');
    expect(drawn.charts).toContain('heatmap');
    expect(drawn.empty).toBe(0);
    // shakespeare has one (method, r) group per method plus one, sst2 one per method
    const groups = 2 * benchMethods().length + 1;
    expect(drawn.series).toBe(groups);
    expect(drawn.bars).toBe(groups);
    expect(drawn.errs).toBe(groups * 2); // one whisker per bar and per scatter point
    expect(drawn.points).toBe(groups);
    expect(drawn.rates).toBe(64);
    expect(drawn.tsd).toBe(4);
    expect(drawn.cells).toBe(4);
    expect(drawn.verdicts).toBe(4);
    // per-seed differences: shakespeare judges 4 comparisons (dash r8, dash r1, init, tsd vs lora r8), sst2 3; 3 seeds each
    expect(drawn.charts.filter((c) => c === 'paired')).toHaveLength(2);
    expect(drawn.seedDiffs).toBe(7 * 3);
    expect(drawn.diffCis).toHaveLength(7);
    expect(Math.min(...drawn.diffCis)).toBeGreaterThan(1);
    expect(Math.min(...drawn.seriesWidths)).toBeGreaterThan(100);
    expect(Math.min(...drawn.barHeights)).toBeGreaterThan(0);
    await page.close();
  });
});
