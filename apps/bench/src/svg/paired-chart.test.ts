import { describe, expect, it } from 'vitest';
import { pairedDiffChart } from './paired-chart.js';

describe('pairedDiffChart', () => {
  it('draws a dot per seed, the mean and its interval per comparison, and a zero line', () => {
    const svg = pairedDiffChart(
      'diffs',
      [
        { name: 'lora-dash r8 − lora r8', seeds: [0, 1, 2], diffs: [-0.001, -0.002, 0.0005], mean: -0.0008, lo: -0.004, hi: 0.002 },
        { name: 'lora-init r8 − lora r8', seeds: [0, 1], diffs: [0.01, Number.NaN], mean: 0.01, lo: Number.NaN, hi: Number.NaN },
      ],
      'Δ val NLL',
      'left',
    );
    expect(svg.match(/class="seed-diff"/g)).toHaveLength(4);
    expect(svg.match(/class="diff-ci"/g)).toHaveLength(1);
    expect(svg.match(/class="diff-mean"/g)).toHaveLength(2);
    expect(svg).toContain('class="zero"');
    // seeds below 0 favour the challenger when lower is better: blue; the one above: red
    expect(svg.match(/data-seed="\d" data-value="-[^"]+"[^>]*fill="#4e79a7"/g)).toHaveLength(2);
    expect(svg).toMatch(/data-seed="2" data-value="0.0005"[^>]*fill="#e15759"/);
    expect(svg).toContain('← favours the challenger');
  });

  it('says so when there is nothing to draw', () => {
    expect(pairedDiffChart('diffs', [], 'Δ', 'right')).toContain('no seed-matched runs');
  });
});
