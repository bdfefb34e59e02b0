import { ConfigError } from '@tsd-peft/core';
import { setupBackend, type BackendName } from '@tsd-peft/tfjs';
import { replayTrajectory, type ReplayReport } from '../replay.js';
import { progressPrinter } from '../training/progress-line.js';
import { parseCommandArgs, type Command } from './command.js';

/** `tsd-peft replay`: replay a LoRA-Dash trajectory folder and compare with its references; exit 1 on a mismatch. */
export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a LoRA / LoRA-Dash reference trajectory and compare',
  help: `Usage: tsd-peft replay <trajectory-dir> [--base <hf-model-dir>] [--json]

Replays a folder in the layout of shared/reference/lora-dash-trajectory (config.json,
batches.json, init_lora.safetensors, launch.json, losses.json; optionally
final_lora.safetensors, final_lora_dash.safetensors, final_logits.safetensors,
d_history.json, and ../inputs.json) — the plain-LoRA run and the LoRA-Dash run from the
same initial A/B, batches and Adam settings — and compares with the folder's references:
  per-step loss            ≤ 1e-4 absolute (all steps, both runs)
  launch indices           identical for every module
  final A, B, d            ≤ 1e-3 relative (max|x − ref| / max|ref| per tensor)
  final logits on input2   ≤ 1e-3 absolute
Exit status 0 when every check passes, 1 when one does not, 2 on bad input.
Use it to check tsd-peft against your own PyTorch run written in the same layout.

Options:
  --base <dir>       base model (default: config.json's base_model, relative to the folder's parent)
  --json             print the report as JSON
  --backend <name>   TF.js backend (default: best available)

Example:
  tsd-peft replay ../shared/reference/lora-dash-trajectory`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('replay', argv, { base: { type: 'string' }, json: { type: 'boolean', default: false }, backend: { type: 'string' } }, true);
    const [dir, ...more] = positionals;
    if (dir === undefined) throw new ConfigError('missing the trajectory folder (see `tsd-peft replay --help`)');
    if (more.length > 0) throw new ConfigError(`one folder expected, got ${positionals.length}`);
    await setupBackend(values.backend as BackendName | undefined);
    const printers = { lora: progressPrinter(io.err, { label: 'lora     ', lines: 4 }), lora_dash: progressPrinter(io.err, { label: 'lora-dash', lines: 4 }) };
    const report = await replayTrajectory(dir, {
      ...(typeof values.base === 'string' ? { base: values.base } : {}),
      onProgress: (run, event) => printers[run](event),
    });
    if (values.json === true) io.out(JSON.stringify(reportJson(report), null, 1));
    else printReport(report, io.out);
    return report.passed ? 0 : 1;
  },
};

/** The report as plain JSON (maps become objects). */
function reportJson(report: ReplayReport): unknown {
  const run = (r: ReplayReport['runs']['lora']) => ({
    losses: r.losses,
    reference_losses: r.referenceLosses,
    loss_diffs: r.lossDiffs,
    launch: Object.fromEntries([...r.launch].map(([m, l]) => [m, l.selected])),
    seconds: r.seconds,
  });
  return {
    dir: report.dir,
    base: report.base,
    passed: report.passed,
    checks: report.checks,
    measures: report.measures,
    skipped: report.skipped,
    runs: { lora: run(report.runs.lora), lora_dash: run(report.runs.lora_dash) },
  };
}

function printReport(report: ReplayReport, out: (line: string) => void): void {
  const { lora, lora_dash: dash } = report.runs;
  out(`replay ${report.dir} on ${report.base}`);
  out(`r ${report.config.r}, alpha ${report.config.alpha}, t ${report.config.t}, s ${report.config.s}, ${report.config.steps} steps, lr ${report.config.optimizer.lr}`);
  out('');
  out(' step   lora          ref           |diff|      lora-dash     ref           |diff|');
  for (let i = 0; i < report.config.steps; i++) {
    const cell = (v: number | undefined) => (v === undefined ? 'n/a'.padEnd(12) : v.toFixed(8).padEnd(12));
    const diff = (v: number | undefined) => (v === undefined ? 'n/a' : v.toExponential(2)).padEnd(10);
    const mark = i === report.config.t ? '  <- launch' : '';
    out(
      ` ${String(i).padStart(4)}   ${cell(lora.losses[i])}  ${cell(lora.referenceLosses[i])}  ${diff(lora.lossDiffs[i])}  ${cell(dash.losses[i])}  ${cell(dash.referenceLosses[i])}  ${diff(dash.lossDiffs[i])}${mark}`,
    );
  }
  out('');
  out('launch indices (ours):');
  for (const [m, l] of dash.launch) out(`  ${m.padEnd(36)} ${l.selected.join(' ')}`);
  out('');
  out('checks:');
  for (const c of report.checks) {
    out(`  ${c.passed ? 'pass' : 'FAIL'}  ${c.name.padEnd(26)} ${c.value.toExponential(3).padEnd(11)} ≤ ${c.tolerance.toExponential(0).padEnd(6)} ${c.definition}`);
  }
  for (const m of report.measures) out(`  info  ${m.name.padEnd(26)} ${(Number.isInteger(m.value) ? String(m.value) : m.value.toExponential(3)).padEnd(11)}   ${''.padEnd(6)} ${m.definition}`);
  for (const s of report.skipped) out(`  skip  ${s}`);
  out('');
  out(report.passed ? 'all checks passed' : `${report.checks.filter((c) => !c.passed).length} check(s) beyond tolerance`);
}
