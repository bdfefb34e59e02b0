import type { ProgressEvent } from '@tsd-peft/tfjs';

/** `m:ss` or `h:mm:ss` for a duration in seconds. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * One line describing a training step: an optional bar, step/total, loss,
 * learning rate, tokens/s, eval result and ETA. Pure, so the CLI can redraw it
 * in place on a TTY or print it as a plain log line.
 */
export function progressLine(event: ProgressEvent, options: { bar?: number; label?: string } = {}): string {
  const parts: string[] = [];
  if (options.label !== undefined) parts.push(options.label);
  if (options.bar !== undefined && options.bar > 0) {
    const filled = Math.round((options.bar * event.step) / Math.max(1, event.totalSteps));
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(options.bar - filled)}]`);
  }
  parts.push(`step ${event.step}/${event.totalSteps}`, `loss ${event.loss.toFixed(4)}`, `lr ${event.lr.toExponential(2)}`);
  if (event.tokensPerSecond !== null) parts.push(`${Math.round(event.tokensPerSecond)} tok/s`);
  if (event.eval !== undefined) {
    const ev = typeof event.eval === 'number' ? { eval: event.eval } : event.eval;
    for (const [k, v] of Object.entries(ev)) parts.push(`${k} ${v.toFixed(4)}`);
  }
  parts.push(event.step >= event.totalSteps ? `done in ${formatDuration(event.elapsedSeconds)}` : `ETA ${formatDuration(event.etaSeconds)}`);
  return parts.join('  ');
}

/** Where progress goes: a stream that may be a terminal. */
export interface ProgressSink {
  write(chunk: string): boolean;
  isTTY?: boolean;
}

/**
 * Draws progress on `sink`: on a TTY one line redrawn in place (`\r`, cleared
 * to the end), finished with a newline at the last step; otherwise plain lines
 * for about `lines` evenly spaced steps plus every step with an evaluation,
 * the first and the last (so logs stay short).
 */
export function progressPrinter(sink: ProgressSink, options: { lines?: number; label?: string } = {}): (event: ProgressEvent) => void {
  const tty = sink.isTTY === true;
  const lines = options.lines ?? 20;
  return (event) => {
    const last = event.step >= event.totalSteps;
    const label = options.label === undefined ? {} : { label: options.label };
    if (tty) {
      sink.write(`\r${progressLine(event, { bar: 24, ...label })}\x1b[K${last ? '\n' : ''}`);
      return;
    }
    const every = Math.max(1, Math.floor(event.totalSteps / lines));
    if (event.step === 1 || last || event.step % every === 0 || event.eval !== undefined) sink.write(`${progressLine(event, label)}\n`);
  };
}
