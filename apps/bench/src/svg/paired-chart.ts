import { emptyChart, openSvg } from './frame.js';
import { escapeXml, linearScale, tickLabel } from './scale.js';

/** One comparison's seed-matched differences (challenger − baseline) and their interval. */
export interface PairedRow {
  name: string;
  seeds: readonly number[];
  diffs: readonly number[];
  mean: number;
  /** 95% interval of the mean difference; NaN when there is none. */
  lo: number;
  hi: number;
}

/**
 * Per-seed differences, one row per comparison: a dot per seed
 * (`<circle class="seed-diff">`), the mean (`<rect class="diff-mean">`) and
 * its paired 95% interval (`<line class="diff-ci">`), against a dashed zero
 * line. `favoured` names the side of 0 that favours the challenger, so a
 * reader sees at a glance which way each seed went.
 */
export function pairedDiffChart(title: string, rows: readonly PairedRow[], xTitle: string, favoured: 'left' | 'right'): string {
  const data = rows.filter((r) => r.diffs.some((d) => Number.isFinite(d)));
  if (data.length === 0) return emptyChart(title, 'paired', 'no seed-matched runs');
  const rowH = 34;
  const f = { width: 640, height: 30 + rowH * data.length + 58, left: 190, right: 620, top: 30, bottom: 30 + rowH * data.length };
  const values = data.flatMap((r) => [...r.diffs, r.lo, r.hi, 0].filter((v) => Number.isFinite(v)));
  const x = linearScale(Math.min(...values), Math.max(...values), f.left, f.right);
  const parts = [openSvg(f, title, 'paired'), '<g class="axes" font-size="10" fill="#444">'];
  for (const t of x.ticks) {
    const px = x(t).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${f.top}" y2="${f.bottom}" stroke="#f0f0f0"/><text x="${px}" y="${f.bottom + 14}" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  const zero = x(0).toFixed(1);
  parts.push(`<line class="zero" x1="${zero}" x2="${zero}" y1="${f.top}" y2="${f.bottom}" stroke="#888" stroke-dasharray="4 3"/>`);
  parts.push(`<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="#888"/>`);
  parts.push(`<text x="${(f.left + f.right) / 2}" y="${f.bottom + 30}" text-anchor="middle">${escapeXml(xTitle)}</text>`);
  const arrow = favoured === 'left' ? '← favours the challenger' : 'favours the challenger →';
  parts.push(`<text x="${favoured === 'left' ? f.left : f.right}" y="${f.bottom + 44}" text-anchor="${favoured === 'left' ? 'start' : 'end'}">${arrow}</text></g>`);
  data.forEach((r, i) => {
    const cy = f.top + rowH * (i + 0.5);
    parts.push(`<text x="${f.left - 8}" y="${cy}" font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(r.name)}</text>`);
    if (Number.isFinite(r.lo) && Number.isFinite(r.hi)) {
      parts.push(`<line class="diff-ci" data-lo="${r.lo}" data-hi="${r.hi}" x1="${x(r.lo).toFixed(1)}" x2="${x(r.hi).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#222" stroke-width="1.4"/>`);
    }
    if (Number.isFinite(r.mean)) {
      parts.push(`<rect class="diff-mean" data-value="${r.mean}" x="${(x(r.mean) - 1.5).toFixed(1)}" y="${cy - 8}" width="3" height="16" fill="#222"/>`);
    }
    r.diffs.forEach((d, k) => {
      if (!Number.isFinite(d)) return;
      const wins = favoured === 'left' ? d < 0 : d > 0;
      parts.push(
        `<circle class="seed-diff" data-seed="${r.seeds[k] ?? k}" data-value="${d}" cx="${x(d).toFixed(1)}" cy="${(cy + (k % 2 === 0 ? -5 : 5)).toFixed(1)}" r="4" fill="${wins ? '#4e79a7' : '#e15759'}" fill-opacity="0.8"><title>${escapeXml(`seed ${r.seeds[k] ?? k}: ${d}`)}</title></circle>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('');
}
