import { isDenseMethod } from '@tsd-peft/tfjs';
import { fmt, fmtCi, fmtInt, groupLabel, summarize } from './aggregate.js';
import type { ResultsFile } from './schema.js';
import { fmtSigned, judgeClaims } from './verdicts.js';

/**
 * `results.md`: per task, a table of the final and best primary metric (mean ±
 * 95% Student-t CI over seeds), trainable parameters and time per run, then
 * one verdict line per paper claim with the comparisons behind it. Failed runs
 * are listed, never hidden.
 */
export function renderResultsMarkdown(results: ResultsFile): string {
  const groups = summarize(results);
  const lines: string[] = [];
  const done = results.runs.filter((r) => r.status === 'done');
  // Describe training from an adapter run (full fine-tuning records no rank or alpha).
  const adapterRuns = done.filter((r) => !isDenseMethod(r.config.method));
  const first = (adapterRuns[0] ?? done[0])?.config;
  const alphaText = adapterRuns.length > 0 && adapterRuns.every((r) => r.config.alpha === 2 * r.config.r) ? '2·r' : String(first?.alpha ?? '');
  lines.push('# tsd-bench results', '');
  lines.push(`- Model: \`${results.model.id}\` (${results.model.source}, ${fmtInt(results.model.parameters)} parameters)`);
  lines.push(`- Preset: ${results.preset}; ${done.length} finished run(s), ${results.runs.length - done.length} failed; updated ${results.updatedAt}`);
  if (first !== undefined) {
    lines.push(
      `- Training: ${first.steps} steps, batch ${first.batchSize} × ${first.seqLen} tokens, lr ${first.lr} (${first.optimizer}, ${first.schedule}), alpha ${alphaText}, t ${first.t}, s ${first.s}, adapter modules ${first.targetModules.join(', ')} (full fine-tuning trains every linear projection)`,
    );
  }
  lines.push(`- Environment: Node ${results.environment.node}, ${results.environment.platform}, ${results.environment.cpus} CPU(s), backend ${results.environment.backend}`);
  lines.push('- Intervals are 95% Student-t confidence intervals of the mean over seeds; "final" is the metric after the last step, "best" the best evaluation point.', '');

  for (const task of results.tasks) {
    const rows = groups.filter((g) => g.task === task.name);
    if (rows.length === 0) continue;
    const m = task.metric;
    lines.push(`## ${task.name}: ${m.label} (${m.better} is better)`, '');
    lines.push(`${m.description}. Evaluated on ${fmtInt(task.evalSize)} ${m.key.includes('nll') ? 'tokens' : 'examples'}.`);
    const base = task.baseline[m.key];
    if (typeof base === 'number') lines.push(`Base model before training: ${fmt(base)}.`);
    const maj = task.majorityClass;
    if (maj !== undefined) lines.push(`Majority-class baseline (always ${JSON.stringify(maj.label)}, the most frequent training label): ${fmt(maj.accuracy ?? Number.NaN)}.`);
    lines.push('');
    // GPU runs add MFU (against the adapter's measured matmul peak) and peak GPU memory.
    const gpu = rows.some((g) => g.mfu !== null);
    lines.push(`| method | r | seeds | final ${m.label} | best ${m.label} | trainable params | time/run (s) | tokens/s |${gpu ? ' MFU | peak GPU MiB |' : ''}`);
    lines.push(`|---|---:|---:|---:|---:|---:|---:|---:|${gpu ? '---:|---:|' : ''}`);
    for (const g of rows) {
      const seeds = g.failed > 0 ? `${g.runs.length} (+${g.failed} failed)` : String(g.runs.length);
      const gpuCells = gpu ? ` ${g.mfu === null ? '—' : `${(100 * g.mfu).toFixed(2)}%`} | ${g.peakGpuMiB === null ? '—' : fmt(g.peakGpuMiB, 3)} |` : '';
      lines.push(
        `| ${g.method} | ${isDenseMethod(g.method) ? '—' : g.r} | ${seeds} | ${fmtCi(g.final)} | ${fmtCi(g.best)} | ${fmtInt(g.trainableParams)} | ${fmt(g.wallTimeSec, 3)} | ${fmtInt(g.tokensPerSec)} |${gpuCells}`,
      );
    }
    if (rows.some((g) => g.runs.some((r) => r.gpu?.softwareAdapter === true))) {
      lines.push('', 'MFU and GPU memory above come from a software WebGPU adapter: they are not GPU numbers.');
    }
    lines.push('');
  }

  lines.push('## Paper claims', '');
  lines.push(
    'Runs of the same seed share the initialisation and the data order, so a comparison is judged on the seed-matched differences (challenger − baseline): "reproduced" or "not reproduced" when the paired 95% Student-t interval of the mean difference excludes 0, in the metric\'s direction. Only runs that share fewer than 2 seeds fall back to the unpaired rule (the two groups\' 95% intervals must not overlap). A claim\'s line needs a strict majority of its comparisons and none the other way. These are small-scale checks on a tiny model, not a re-run of the paper.',
    '',
  );
  for (const c of judgeClaims(results, groups)) {
    lines.push(`- **${c.claim}** (paper: ${c.paper}): **${c.overall}**`);
    for (const cmp of c.comparisons) {
      lines.push(`  - ${cmp.task}: ${cmp.verdict} — ${cmp.detail}`);
      if (cmp.paired !== null) lines.push(`    - per-seed differences: ${cmp.paired.seeds.map((s, i) => `seed ${s} ${fmtSigned(cmp.paired?.diffs[i] ?? Number.NaN)}`).join(', ')}`);
    }
  }
  const failed = results.runs.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    lines.push('', '## Failed runs', '');
    for (const r of failed) lines.push(`- ${r.key}: ${r.error ?? 'unknown error'}`);
  }
  const secondaryTasks = results.tasks.filter((t) => t.secondary.length > 0 && groups.some((g) => g.task === t.name));
  if (secondaryTasks.length > 0) {
    lines.push('', '## Secondary metrics (final, mean over seeds)', '');
    for (const t of secondaryTasks) {
      lines.push(`| ${t.name} | ${t.secondary.map((s) => s.label).join(' | ')} |`, `|---|${t.secondary.map(() => '---:').join('|')}|`);
      const baseRow = t.secondary.map((s) => fmt(t.baseline[s.key] ?? Number.NaN)).join(' | ');
      lines.push(`| base model | ${baseRow} |`);
      for (const g of groups.filter((x) => x.task === t.name)) {
        const cells = t.secondary.map((s) => {
          const xs = g.runs.map((r) => r.final[s.key]).filter((v): v is number => typeof v === 'number');
          return fmt(xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
        });
        lines.push(`| ${groupLabel(g)} | ${cells.join(' | ')} |`);
      }
      lines.push('');
    }
  }
  return `${lines.join('\n')}\n`;
}
