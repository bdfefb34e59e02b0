import { axes, defaultFrame, emptyChart, legend, openSvg, seriesColors } from './frame.js';
import { escapeXml, linearScale, logScale, tickLabel } from './scale.js';

/** A named polyline. */
export interface LineSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

/**
 * Line chart (e.g. training loss against step, one line per method). Each
 * series is one `<path class="series">` with `data-series` and `data-points`,
 * so a test can check what was drawn. Non-finite points are skipped.
 */
export function lineChart(title: string, series: readonly LineSeries[], xTitle: string, yTitle: string): string {
  const clean = series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) })).filter((s) => s.points.length > 0);
  if (clean.length === 0) return emptyChart(title, 'line', 'no data');
  const xs = clean.flatMap((s) => s.points.map((p) => p[0]));
  const ys = clean.flatMap((s) => s.points.map((p) => p[1]));
  const f = defaultFrame();
  const x = linearScale(Math.min(...xs), Math.max(...xs), f.left, f.right);
  const y = linearScale(Math.min(...ys), Math.max(...ys), f.bottom, f.top);
  const colors = seriesColors(clean.map((s) => s.name));
  const colorFor = (name: string): string => colors.get(name) ?? '#999';
  const parts = [openSvg(f, title, 'line'), axes(f, x, y, xTitle, yTitle)];
  for (const s of clean) {
    const d = s.points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join('');
    parts.push(`<path class="series" data-series="${escapeXml(s.name)}" data-points="${s.points.length}" d="${d}" fill="none" stroke="${colorFor(s.name)}" stroke-width="1.6"/>`);
  }
  parts.push(
    legend(
      f,
      clean.map((s) => ({ name: s.name, color: colorFor(s.name) })),
    ),
    '</svg>',
  );
  return parts.join('');
}

/** One bar with an optional symmetric error bar. */
export interface BarDatum {
  name: string;
  value: number;
  /** Half-width of the interval; NaN for none. */
  err: number;
}

/**
 * Bar chart of means with 95% CI whiskers (one `<rect class="bar">` and one
 * `<line class="err">` per bar). The y axis starts at zero for positive data
 * (bar length is then proportional to value) unless `zeroBased` is false,
 * which NLL charts use so small differences stay visible.
 */
export function barChart(title: string, bars: readonly BarDatum[], yTitle: string, zeroBased = true): string {
  const data = bars.filter((b) => Number.isFinite(b.value));
  if (data.length === 0) return emptyChart(title, 'bar', 'no data');
  const f = defaultFrame(640, 320, false);
  const err = (b: BarDatum): number => (Number.isFinite(b.err) ? b.err : 0);
  const lo = Math.min(...data.map((b) => b.value - err(b)));
  const hi = Math.max(...data.map((b) => b.value + err(b)));
  const y = linearScale(zeroBased ? Math.min(0, lo) : lo, hi, f.bottom, f.top);
  const base = zeroBased ? y(Math.max(y.domain[0], 0)) : f.bottom;
  const slot = (f.right - f.left) / data.length;
  const colors = seriesColors(data.map((b) => b.name));
  const colorFor = (name: string): string => colors.get(name) ?? '#999';
  const parts = [openSvg(f, title, 'bar'), axes(f, null, y, '', yTitle)];
  data.forEach((b, i) => {
    const cx = f.left + slot * (i + 0.5);
    const w = Math.min(48, slot * 0.7);
    const top = Math.min(y(b.value), base);
    const h = Math.abs(base - y(b.value));
    parts.push(
      `<rect class="bar" data-name="${escapeXml(b.name)}" data-value="${b.value}" x="${(cx - w / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(h, 0.5).toFixed(1)}" fill="${colorFor(b.name)}"/>`,
    );
    if (Number.isFinite(b.err)) {
      const y0 = y(b.value - b.err).toFixed(1);
      const y1 = y(b.value + b.err).toFixed(1);
      parts.push(`<line class="err" data-err="${b.err}" x1="${cx}" x2="${cx}" y1="${y0}" y2="${y1}" stroke="#222" stroke-width="1.2"/>`);
      parts.push(`<line x1="${cx - 6}" x2="${cx + 6}" y1="${y0}" y2="${y0}" stroke="#222"/><line x1="${cx - 6}" x2="${cx + 6}" y1="${y1}" y2="${y1}" stroke="#222"/>`);
    }
    parts.push(`<text x="${cx}" y="${f.bottom + 14}" font-size="10" text-anchor="middle">${escapeXml(b.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A labelled point with an optional vertical error bar. */
export interface ScatterDatum {
  name: string;
  x: number;
  y: number;
  err: number;
}

/**
 * Scatter of a metric against trainable parameters on a log10 x axis (one
 * `<circle class="point">` per datum), with CI whiskers.
 */
export function scatterChart(title: string, points: readonly ScatterDatum[], xTitle: string, yTitle: string): string {
  const data = points.filter((p) => p.x > 0 && Number.isFinite(p.y));
  if (data.length === 0) return emptyChart(title, 'scatter', 'no data');
  const f = defaultFrame();
  const e = (p: ScatterDatum): number => (Number.isFinite(p.err) ? p.err : 0);
  const x = logScale(Math.min(...data.map((p) => p.x)), Math.max(...data.map((p) => p.x)), f.left + 10, f.right - 10);
  const y = linearScale(Math.min(...data.map((p) => p.y - e(p))), Math.max(...data.map((p) => p.y + e(p))), f.bottom, f.top);
  const colors = seriesColors(data.map((p) => p.name));
  const colorFor = (name: string): string => colors.get(name) ?? '#999';
  const parts = [openSvg(f, title, 'scatter'), axes(f, x, y, xTitle, yTitle)];
  for (const p of data) {
    const px = x(p.x).toFixed(1);
    if (Number.isFinite(p.err)) {
      parts.push(`<line class="err" x1="${px}" x2="${px}" y1="${y(p.y - p.err).toFixed(1)}" y2="${y(p.y + p.err).toFixed(1)}" stroke="${colorFor(p.name)}"/>`);
    }
    parts.push(
      `<circle class="point" data-name="${escapeXml(p.name)}" data-x="${p.x}" data-y="${p.y}" cx="${px}" cy="${y(p.y).toFixed(1)}" r="5" fill="${colorFor(p.name)}" stroke="#333" stroke-width="0.6"><title>${escapeXml(`${p.name}: ${tickLabel(p.x)} params, ${p.y}`)}</title></circle>`,
    );
  }
  const names = [...new Set(data.map((p) => p.name))];
  parts.push(
    legend(
      f,
      names.map((n) => ({ name: n, color: colorFor(n) })),
    ),
    '</svg>',
  );
  return parts.join('');
}

/**
 * The change-rate spectrum of one module: a bar per singular direction (index
 * order, i.e. σ descending), on a log y axis since rates span decades; the
 * chosen task-specific directions are drawn in a contrasting colour and marked
 * with a triangle (`class="tsd"`).
 */
export function spectrumChart(title: string, rates: readonly number[], selected: readonly number[]): string {
  const positive = rates.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return emptyChart(title, 'spectrum', 'no change rates recorded');
  const f = defaultFrame(640, 300, false);
  const floor = Math.min(...positive);
  const y = logScale(floor, Math.max(...positive), f.bottom, f.top);
  const slot = (f.right - f.left) / rates.length;
  const chosen = new Set(selected);
  const parts = [openSvg(f, title, 'spectrum'), axes(f, null, y, `direction index (σ descending), ${rates.length} directions`, 'change rate')];
  rates.forEach((v, i) => {
    const value = v > 0 && Number.isFinite(v) ? v : floor;
    const top = y(value);
    const isTsd = chosen.has(i);
    parts.push(
      `<rect class="rate${isTsd ? ' tsd-bar' : ''}" data-index="${i}" data-value="${v}" x="${(f.left + slot * i + slot * 0.1).toFixed(2)}" y="${top.toFixed(1)}" width="${Math.max(slot * 0.8, 0.5).toFixed(2)}" height="${Math.max(f.bottom - top, 0.5).toFixed(1)}" fill="${isTsd ? '#d62728' : '#9aa9bd'}"/>`,
    );
    if (isTsd) {
      const cx = f.left + slot * (i + 0.5);
      parts.push(`<path class="tsd" data-index="${i}" d="M${cx - 4},${top - 9}L${cx + 4},${top - 9}L${cx},${top - 3}Z" fill="#d62728"/>`);
    }
  });
  for (let i = 0; i < rates.length; i += Math.max(1, Math.ceil(rates.length / 8))) {
    parts.push(`<text x="${f.left + slot * (i + 0.5)}" y="${f.bottom + 14}" font-size="10" text-anchor="middle">${i}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/**
 * A square heatmap with values in [0, 1] (e.g. TSD overlap between tasks), one
 * `<rect class="cell">` per entry with the value printed inside.
 */
export function heatmap(title: string, labels: readonly string[], values: ReadonlyArray<readonly number[]>): string {
  if (labels.length === 0) return emptyChart(title, 'heatmap', 'no data');
  const cell = Math.min(64, Math.floor(420 / labels.length));
  const left = 150;
  const top = 40;
  const width = Math.max(480, left + cell * labels.length + 20);
  const height = top + cell * labels.length + 110;
  const f = { width, height, left, right: width - 20, top, bottom: height - 20 };
  const parts = [openSvg(f, title, 'heatmap')];
  labels.forEach((row, i) => {
    parts.push(`<text x="${left - 6}" y="${top + cell * (i + 0.5)}" font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(row)}</text>`);
    const colX = left + cell * (i + 0.5);
    const colY = top + cell * labels.length + 8;
    parts.push(`<text transform="translate(${colX} ${colY}) rotate(45)" font-size="11">${escapeXml(row)}</text>`);
    labels.forEach((col, j) => {
      const v = values[i]?.[j] ?? Number.NaN;
      const shade = Number.isFinite(v) ? Math.round(255 - Math.max(0, Math.min(1, v)) * 200) : 235;
      const fill = Number.isFinite(v) ? `rgb(${shade},${shade},255)` : '#eee';
      parts.push(
        `<rect class="cell" data-row="${escapeXml(row)}" data-col="${escapeXml(col)}" data-value="${v}" x="${left + cell * j}" y="${top + cell * i}" width="${cell - 1}" height="${cell - 1}" fill="${fill}"/>`,
      );
      parts.push(
        `<text x="${left + cell * (j + 0.5)}" y="${top + cell * (i + 0.5)}" font-size="10" text-anchor="middle" dominant-baseline="middle" fill="${Number.isFinite(v) && v > 0.6 ? '#fff' : '#222'}">${Number.isFinite(v) ? v.toFixed(2) : '—'}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('');
}
