import { describe, expect, it } from 'vitest';
import { barChart, heatmap, lineChart, scatterChart, spectrumChart } from './charts.js';
import { darken, seriesColors } from './frame.js';
import { escapeXml, linearScale, logScale, niceTicks, tickLabel } from './scale.js';

describe('scales', () => {
  it('nice ticks cover the data with 1/2/5 steps', () => {
    expect(niceTicks(0.13, 0.87, 5)).toEqual({ ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], domain: [0, 1] });
    expect(niceTicks(3.41, 3.49, 4).ticks).toEqual([3.4, 3.42, 3.44, 3.46, 3.48, 3.5]);
    expect(niceTicks(5, 5).domain[0]).toBeLessThan(5);
  });

  it('linear and log scales map the domain ends onto the range ends', () => {
    const x = linearScale(0, 97, 10, 110);
    expect(x(x.domain[0])).toBe(10);
    expect(x(x.domain[1])).toBe(110);
    const l = logScale(300, 2e5, 0, 300);
    expect(l.domain).toEqual([100, 1e6]);
    expect(l(1000)).toBeCloseTo(75, 10);
  });

  it('labels and escapes', () => {
    expect(tickLabel(264128)).toBe('264k');
    expect(tickLabel(0.05)).toBe('0.05');
    expect(escapeXml('a<b & "c"')).toBe('a&lt;b &amp; &quot;c&quot;');
  });
});

describe('charts', () => {
  it('a line chart draws one path per series and skips non-finite points', () => {
    const svg = lineChart(
      't',
      [
        {
          name: 'lora r8',
          points: [
            [0, 1],
            [1, Number.NaN],
            [2, 0.5],
          ],
        },
        { name: 'x', points: [] },
      ],
      'step',
      'loss',
    );
    expect(svg.match(/class="series"/g)).toHaveLength(1);
    expect(svg).toContain('data-points="2"');
  });

  it('charts without data say so', () => {
    expect(lineChart('t', [], 'x', 'y')).toContain('class="empty"');
    expect(barChart('t', [{ name: 'a', value: Number.NaN, err: 0 }], 'y')).toContain('no data');
    expect(scatterChart('t', [], 'x', 'y')).toContain('no data');
    expect(spectrumChart('t', [0, 0], [])).toContain('no change rates');
    expect(heatmap('t', [], [])).toContain('no data');
  });

  it('bars carry their value and CI whisker', () => {
    const svg = barChart(
      't',
      [
        { name: 'lora r8', value: 0.7, err: 0.05 },
        { name: 'full', value: 0.8, err: Number.NaN },
      ],
      'acc',
    );
    expect(svg.match(/class="bar"/g)).toHaveLength(2);
    expect(svg.match(/class="err"/g)).toHaveLength(1);
    expect(svg).toContain('data-value="0.7"');
  });

  it('the spectrum marks exactly the selected directions', () => {
    const svg = spectrumChart('t', [0.1, 0.01, 0.5, 0.02], [2, 0]);
    expect(svg.match(/class="rate/g)).toHaveLength(4);
    expect([...svg.matchAll(/class="tsd" data-index="(\d+)"/g)].map((m) => m[1])).toEqual(['0', '2']);
  });

  it('ranks of one method get distinct shades', () => {
    const c = seriesColors(['lora-dash r1', 'lora-dash r8', 'lora r8']);
    expect(c.get('lora-dash r1')).not.toBe(c.get('lora-dash r8'));
    expect(darken('#ffffff', 0.5)).toBe('#808080');
  });
});
