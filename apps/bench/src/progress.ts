/** Where progress goes: a stream with an optional TTY flag and width (process.stdout fits). */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of {@link ProgressDisplay}. */
export interface ProgressOptions {
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /** Minimum ms between live redraws on a TTY. */
  redrawMs?: number;
  /** Plain mode prints a step line this many times per run (evenly spaced), plus the last step. */
  plainLinesPerRun?: number;
}

/** "1:05", "12:00:03": a duration for humans. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * The live terminal display: current run, step, loss, ETA of the run and of
 * the whole bench, and runs done / total. On a TTY it redraws one status line
 * in place (throttled) and prints permanent lines above it; otherwise (a
 * pipe, a CI log) it degrades to plain lines at a few evenly spaced steps per
 * run, so logs stay short and readable.
 */
export class ProgressDisplay {
  private readonly now: () => number;
  private readonly redrawMs: number;
  private readonly plainLines: number;
  private readonly tty: boolean;
  private runsDone = 0;
  private runsTotal = 0;
  private finishedMs: number[] = [];
  private run: { key: string; steps: number; firstStep: number; start: number; step: number; loss: number; phase: string } | null = null;
  private lastDraw = -Infinity;
  private statusShown = false;

  constructor(
    private readonly sink: ProgressSink,
    options: ProgressOptions = {},
  ) {
    this.now = options.now ?? (() => Date.now());
    this.redrawMs = options.redrawMs ?? 100;
    this.plainLines = options.plainLinesPerRun ?? 4;
    this.tty = sink.isTTY === true;
  }

  /** Sets the plan: `total` runs, of which `done` are already finished (resumed from results.json). */
  plan(total: number, done: number): void {
    this.runsTotal = total;
    this.runsDone = done;
  }

  /** A run starts (at `firstStep` > 0 when resumed from a checkpoint). */
  startRun(key: string, steps: number, firstStep = 0): void {
    this.run = { key, steps, firstStep, start: this.now(), step: firstStep, loss: Number.NaN, phase: 'train' };
    const resumed = firstStep > 0 ? ` (resuming at step ${firstStep})` : '';
    this.log(`[${this.runsDone + 1}/${this.runsTotal}] ${key}: ${steps} steps${resumed}`);
  }

  /** The current run continues from a checkpoint at `step` (ETA counts from there). */
  resumeAt(step: number): void {
    if (this.run === null) return;
    this.run.firstStep = step;
    this.run.step = step;
    this.run.start = this.now();
    this.log(`  resuming ${this.run.key} from its checkpoint at step ${step}`);
  }

  /** An optimizer step finished (`step` counts completed steps, 1-based). */
  step(step: number, loss: number): void {
    if (this.run === null) return;
    this.run.step = step;
    this.run.loss = loss;
    this.run.phase = 'train';
    if (this.tty) {
      this.draw(false);
    } else {
      const every = Math.max(1, Math.floor(this.run.steps / this.plainLines));
      if (step % every === 0 || step === this.run.steps) this.sink.write(`${this.statusLine()}\n`);
    }
  }

  /** The run entered another phase (e.g. "eval"). */
  phase(name: string): void {
    if (this.run === null) return;
    this.run.phase = name;
    if (this.tty) this.draw(true);
  }

  /** The run finished; `summary` (e.g. the final metric) goes on a permanent line. */
  endRun(summary: string): void {
    if (this.run !== null) this.finishedMs.push(this.now() - this.run.start);
    const key = this.run?.key ?? '';
    this.runsDone += 1;
    this.run = null;
    this.log(`[${this.runsDone}/${this.runsTotal}] ${key} done: ${summary}`);
  }

  /** A permanent line (above the live status on a TTY). */
  log(line: string): void {
    if (this.tty && this.statusShown) this.sink.write('\r\x1b[2K');
    this.sink.write(`${line}\n`);
    this.statusShown = false;
    if (this.tty && this.run !== null) this.draw(true);
  }

  /** Clears the live line. */
  finish(): void {
    if (this.tty && this.statusShown) this.sink.write('\r\x1b[2K');
    this.statusShown = false;
  }

  /** The status text: run, step, loss, ETAs, runs done/total. */
  statusLine(): string {
    const r = this.run;
    if (r === null) return `runs ${this.runsDone}/${this.runsTotal}`;
    const elapsed = this.now() - r.start;
    const doneSteps = r.step - r.firstStep;
    const perStep = doneSteps > 0 ? elapsed / doneSteps : Number.NaN;
    const runEta = perStep * (r.steps - r.step);
    // Remaining runs are estimated from finished ones (or this one's projected length).
    const typical = this.finishedMs.length > 0 ? this.finishedMs.reduce((a, b) => a + b, 0) / this.finishedMs.length : perStep * r.steps;
    const totalEta = runEta + typical * Math.max(0, this.runsTotal - this.runsDone - 1);
    const loss = Number.isFinite(r.loss) ? r.loss.toFixed(4) : '—';
    const phase = r.phase === 'train' ? '' : ` [${r.phase}]`;
    return `[${this.runsDone + 1}/${this.runsTotal}] ${r.key} step ${r.step}/${r.steps} loss ${loss}${phase} | ETA run ${formatDuration(runEta)}, all ${formatDuration(totalEta)}`;
  }

  private draw(force: boolean): void {
    const t = this.now();
    if (!force && t - this.lastDraw < this.redrawMs) return;
    this.lastDraw = t;
    const width = Math.max(20, (this.sink.columns ?? 120) - 1);
    const line = this.statusLine();
    this.sink.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    this.statusShown = true;
  }
}
