/** Draws a loss curve into an `<svg viewBox="0 0 600 240">` as one polyline with min/max labels. */
export function drawLossChart(svg: SVGSVGElement, losses: readonly number[], totalSteps: number): void {
  const W = 600;
  const H = 240;
  const pad = 28;
  const finite = losses.filter(Number.isFinite);
  if (finite.length === 0) {
    svg.innerHTML = '';
    return;
  }
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;
  const x = (i: number) => pad + ((W - 2 * pad) * i) / Math.max(1, totalSteps - 1);
  const y = (v: number) => H - pad - ((H - 2 * pad) * (v - lo)) / span;
  const points = losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.innerHTML =
    `<polyline fill="none" stroke="#c0392b" stroke-width="2" points="${points}"/>` +
    `<text x="4" y="${pad - 8}" font-size="12">${hi.toFixed(3)}</text>` +
    `<text x="4" y="${H - 6}" font-size="12">${lo.toFixed(3)}</text>` +
    `<text x="${W - 120}" y="${H - 6}" font-size="12">step ${losses.length}/${totalSteps}</text>`;
}
