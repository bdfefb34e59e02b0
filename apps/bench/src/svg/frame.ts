import { ADAPTER_METHODS, variantFor } from '@tsd-peft/tfjs';
import { escapeXml, tickLabel, type Scale } from './scale.js';

/** Plot geometry shared by the charts. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The default frame: room for tick labels on the left and bottom, a legend on the right. */
export function defaultFrame(width = 640, height = 320, legend = true): Frame {
  return { width, height, left: 64, right: width - (legend ? 150 : 20), top: 30, bottom: height - 46 };
}

/** Opens an `<svg>` with a title (for screen readers and the test) and a white background. */
export function openSvg(f: Frame, title: string, kind: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeXml(kind)}" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title><rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#fff"/>` +
    `<text x="10" y="18" class="chart-title" font-size="13" font-weight="600">${escapeXml(title)}</text>`
  );
}

/** Gridlines, tick labels and axis titles for an x and a y scale. */
export function axes(f: Frame, x: Scale | null, y: Scale, xTitle: string, yTitle: string): string {
  const parts: string[] = ['<g class="axes" font-size="10" fill="#444">'];
  for (const t of y.ticks) {
    const py = y(t).toFixed(1);
    parts.push(`<line x1="${f.left}" x2="${f.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${f.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`);
  }
  if (x !== null) {
    for (const t of x.ticks) {
      const px = x(t).toFixed(1);
      parts.push(`<line x1="${px}" x2="${px}" y1="${f.top}" y2="${f.bottom}" stroke="#f0f0f0"/>`);
      parts.push(`<text x="${px}" y="${f.bottom + 14}" text-anchor="middle">${tickLabel(t)}</text>`);
    }
  }
  parts.push(`<line x1="${f.left}" x2="${f.right}" y1="${f.bottom}" y2="${f.bottom}" stroke="#888"/>`);
  parts.push(`<line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${f.bottom}" stroke="#888"/>`);
  parts.push(`<text x="${(f.left + f.right) / 2}" y="${f.height - 8}" text-anchor="middle">${escapeXml(xTitle)}</text>`);
  parts.push(`<text transform="translate(14 ${(f.top + f.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yTitle)}</text>`);
  parts.push('</g>');
  return parts.join('');
}

/** A colour swatch legend at the right of the plot. */
export function legend(f: Frame, items: ReadonlyArray<{ name: string; color: string }>): string {
  const parts = ['<g class="legend" font-size="11">'];
  items.forEach((it, i) => {
    const y = f.top + 6 + i * 16;
    parts.push(`<rect x="${f.right + 12}" y="${y - 8}" width="12" height="10" fill="${it.color}"/>`);
    parts.push(`<text x="${f.right + 30}" y="${y}" fill="#222">${escapeXml(it.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('');
}

/** A chart with no data says so instead of drawing empty axes. */
export function emptyChart(title: string, kind: string, message: string): string {
  const f = defaultFrame(640, 120, false);
  return `${openSvg(f, title, kind)}<text x="${f.left}" y="64" font-size="12" fill="#666" class="empty">${escapeXml(message)}</text></svg>`;
}

/** The colour of anything that is not a registered method. */
const UNKNOWN_COLOR = '#9c755f';
/**
 * Colours for registered methods without their own `color`, by registry
 * position (the light half of Tableau-20, apart from the built-ins' Tableau-10).
 */
const FALLBACK_PALETTE = ['#a0cbe8', '#ffbe7d', '#8cd17d', '#b6992d', '#f1ce63', '#86bcb6', '#ff9d9a', '#d4a6c8', '#d7b5a6', '#79706e'];

/** A method's colour: its variant's `color`, else one from a fixed palette by registry position, grey for unknown names. */
export function methodColor(method: string): string {
  const i = ADAPTER_METHODS.indexOf(method);
  if (i === -1) return UNKNOWN_COLOR;
  return variantFor(method).color ?? FALLBACK_PALETTE[i % FALLBACK_PALETTE.length] ?? UNKNOWN_COLOR;
}

/** The colour of a series name (method or "method rN"), grey when unknown. */
export function colorFor(name: string): string {
  return methodColor(name.split(' ')[0] ?? name);
}

/** `#rrggbb` scaled towards black by `factor` (0 = unchanged, 1 = black). */
export function darken(color: string, factor: number): string {
  const n = Number.parseInt(color.slice(1), 16);
  const ch = (shift: number): string =>
    Math.round(((n >> shift) & 255) * (1 - factor))
      .toString(16)
      .padStart(2, '0');
  return `#${ch(16)}${ch(8)}${ch(0)}`;
}

/**
 * Colours for a chart's series names: the method's colour for the first name
 * of each method, darker shades for further ranks of the same method (so
 * "lora-dash r1" and "lora-dash r8" stay apart).
 */
export function seriesColors(names: readonly string[]): Map<string, string> {
  const seen = new Map<string, number>();
  const out = new Map<string, string>();
  for (const name of names) {
    if (out.has(name)) continue;
    const method = name.split(' ')[0] ?? name;
    const k = seen.get(method) ?? 0;
    seen.set(method, k + 1);
    out.set(name, darken(colorFor(name), Math.min(0.7, 0.4 * k)));
  }
  return out;
}
