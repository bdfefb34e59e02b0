/** A map from a data interval onto a pixel interval. */
export interface Scale {
  (x: number): number;
  domain: [number, number];
  ticks: number[];
}

/** Escapes text for SVG/HTML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/**
 * About `count` "nice" tick values (1, 2, 5 × 10ᵏ steps) covering [lo, hi],
 * and the widened domain they span.
 */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; domain: [number, number] } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [0, 1], domain: [0, 1] };
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw * (1 - 1e-9)) ?? 10) * mag;
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = start; v <= end + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, domain: [start, end] };
}

/** A linear scale over nice ticks of [lo, hi] onto [r0, r1]. */
export function linearScale(lo: number, hi: number, r0: number, r1: number, count = 5): Scale {
  const { ticks, domain } = niceTicks(lo, hi, count);
  const [d0, d1] = domain;
  const f = ((x: number) => r0 + ((x - d0) / (d1 - d0)) * (r1 - r0)) as Scale;
  f.domain = domain;
  f.ticks = ticks;
  return f;
}

/** A log10 scale over whole decades covering [lo, hi] (both > 0) onto [r0, r1]. */
export function logScale(lo: number, hi: number, r0: number, r1: number): Scale {
  const e0 = Math.floor(Math.log10(Math.max(lo, Number.MIN_VALUE)));
  let e1 = Math.ceil(Math.log10(Math.max(hi, Number.MIN_VALUE)));
  if (e1 === e0) e1 += 1;
  const f = ((x: number) => r0 + ((Math.log10(x) - e0) / (e1 - e0)) * (r1 - r0)) as Scale;
  f.domain = [10 ** e0, 10 ** e1];
  f.ticks = Array.from({ length: e1 - e0 + 1 }, (_, i) => 10 ** (e0 + i));
  return f;
}

/** Compact tick label: 1.2k, 3M, 0.05. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a === 0) return '0';
  return String(Number(v.toPrecision(3)));
}
