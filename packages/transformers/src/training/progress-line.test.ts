import type { ProgressEvent } from '@tsd-peft/tfjs';
import { describe, expect, it } from 'vitest';
import { sparkline } from './adapter-summary.js';
import { formatDuration, progressLine, progressPrinter } from './progress-line.js';

const event = (step: number, extra: Partial<ProgressEvent> = {}): ProgressEvent => ({
  step,
  totalSteps: 10,
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: a sample loss with 5 decimals, not π
  loss: 3.14159,
  lr: 1e-3,
  gradNorm: 1,
  tokensPerSecond: 1234.4,
  etaSeconds: 75,
  elapsedSeconds: 3725,
  ...extra,
});

describe('progress output', () => {
  it('formats one line with step, loss, lr, tokens/s, eval and ETA', () => {
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(progressLine(event(5, { eval: { eval_loss: 2.5 } }), { bar: 10 })).toBe('[#####.....]  step 5/10  loss 3.1416  lr 1.00e-3  1234 tok/s  eval_loss 2.5000  ETA 1:15');
    expect(progressLine(event(10, { tokensPerSecond: null }))).toBe('step 10/10  loss 3.1416  lr 1.00e-3  done in 1:02:05');
  });

  it('redraws in place on a TTY and prints a few plain lines otherwise', () => {
    let tty = '';
    const onTty = progressPrinter({
      isTTY: true,
      write: (c) => {
        tty += c;
        return true;
      },
    });
    for (let s = 1; s <= 10; s++) onTty(event(s));
    expect(tty.split('\r')).toHaveLength(11);
    expect(tty.endsWith('done in 1:02:05\x1b[K\n')).toBe(true);
    expect(tty.split('\n')).toHaveLength(2);

    let log = '';
    const plain = progressPrinter(
      {
        write: (c) => {
          log += c;
          return true;
        },
      },
      { lines: 2, label: 'run' },
    );
    for (let s = 1; s <= 10; s++) plain(event(s, s === 3 ? { eval: 1.5 } : {}));
    const steps = log
      .trim()
      .split('\n')
      .map((l) => /step (\d+)/.exec(l)?.[1]);
    expect(steps).toEqual(['1', '3', '5', '10']); // first, the eval at 3, every 5th, last
    expect(log.startsWith('run  step 1/10')).toBe(true);
  });

  it('sketches a spectrum as bins of the max rate, largest σ first', () => {
    expect(sparkline([0, 0, 0, 1])).toBe('▁▁▁█');
    expect(sparkline([1, 0, 0, 0, 0, 0, 0, 0.5], 4)).toBe('█▁▁▄');
    expect(sparkline([])).toBe('');
  });
});
