import { barChart, heatmap, lineChart, scatterChart, spectrumChart, type LineSeries } from '../svg/charts.js';
import { pairedDiffChart } from '../svg/paired-chart.js';
import { escapeXml } from '../svg/scale.js';
import { fmt, fmtCi, fmtInt, groupLabel, summarize, type GroupSummary } from './aggregate.js';
import type { ResultsFile, RunRecord } from './schema.js';
import { tsdMethods } from './methods.js';
import { tsdOverlapAcrossTasks } from './tsd-overlap.js';
import type { PairedDifference } from '../stats/paired.js';
import { judgeClaims } from './verdicts.js';

/** Most points a loss curve keeps (evenly strided) so the page stays small. */
const MAX_CURVE_POINTS = 300;

const CSS = `body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.verdict{font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{max-width:100%;height:auto;border:1px solid #eee}.note{color:#555;font-size:13px}`;

/** Mean loss over the seeds of a group, per step, strided to at most {@link MAX_CURVE_POINTS}. */
function meanLossCurve(group: GroupSummary): Array<[number, number]> {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const run of group.runs) {
    for (const { step, loss } of run.lossCurve) {
      if (loss === null) continue;
      const acc = sums.get(step) ?? { sum: 0, n: 0 };
      acc.sum += loss;
      acc.n += 1;
      sums.set(step, acc);
    }
  }
  const points = [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([s, { sum, n }]): [number, number] => [s, sum / n]);
  const stride = Math.max(1, Math.ceil(points.length / MAX_CURVE_POINTS));
  return points.filter((_, i) => i % stride === 0 || i === points.length - 1);
}

/** The TSD run and module whose spectrum the page shows: the first recorded spectrum, Dash preferred. */
function spectrumSource(results: ResultsFile): { run: RunRecord; module: string; rates: number[]; selected: number[] } | null {
  for (const method of tsdMethods()) {
    for (const run of results.runs) {
      if (run.status !== 'done' || run.config.method !== method) continue;
      const mod = run.tsd?.modules.find((m) => m.spectrum !== undefined && m.spectrum.length > 0);
      if (mod?.spectrum !== undefined) return { run, module: mod.module, rates: mod.spectrum.map((v) => v ?? Number.NaN), selected: mod.indices };
    }
  }
  return null;
}

/**
 * `report.html`: one self-contained page (inline CSS, SVG drawn here at build
 * time, no scripts, a CSP that forbids every fetch) with the summary tables,
 * the claim verdicts, per-task loss curves, CI bar charts and metric-vs-
 * parameters scatter plots, the change-rate spectrum of one module with its
 * chosen TSDs, and the TSD overlap heatmap across tasks.
 */
export function renderReportHtml(results: ResultsFile): string {
  const groups = summarize(results);
  const out: string[] = [];
  out.push(
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>tsd-bench report: ${escapeXml(results.model.id)}</title><style>${CSS}</style></head><body>`,
    `<h1>tsd-bench report</h1><p class="note">Model <code>${escapeXml(results.model.id)}</code> (${fmtInt(results.model.parameters)} parameters, ${escapeXml(results.model.source)}), preset <b>${escapeXml(results.preset)}</b>, ${results.runs.length} run(s), updated ${escapeXml(results.updatedAt)}. Intervals are 95% Student-t CIs over seeds.</p>`,
  );

  const claims = judgeClaims(results, groups);
  out.push(
    '<h2>Paper claims</h2><p class="note">Judged on seed-matched differences (challenger − baseline, same initialisation and data order): decided when their paired 95% t interval excludes 0; runs sharing fewer than 2 seeds fall back to non-overlapping group intervals.</p><ul>',
  );
  for (const c of claims) {
    out.push(`<li><b>${escapeXml(c.claim)}</b> <span class="note">(paper: ${escapeXml(c.paper)})</span>: <span class="verdict" data-claim="${c.id}">${escapeXml(c.overall)}</span>`);
    if (c.comparisons.length > 0) {
      out.push('<ul>');
      for (const cmp of c.comparisons) out.push(`<li>${escapeXml(cmp.task)}: ${escapeXml(cmp.verdict)} — ${escapeXml(cmp.detail)}</li>`);
      out.push('</ul>');
    }
    out.push('</li>');
  }
  out.push('</ul>');

  for (const task of results.tasks) {
    const rows = groups.filter((g) => g.task === task.name);
    if (rows.length === 0) continue;
    const m = task.metric;
    const maj = task.majorityClass === undefined ? '' : ` Majority-class baseline (always ${escapeXml(JSON.stringify(task.majorityClass.label))}): ${fmt(task.majorityClass.accuracy ?? Number.NaN)}.`;
    out.push(`<h2>${escapeXml(task.name)}</h2><p class="note">${escapeXml(m.description)} (${m.better} is better).${maj}</p>`);
    out.push(`<table><tr><th>method</th><th>seeds</th><th>final ${escapeXml(m.label)}</th><th>best</th><th>trainable params</th><th>s/run</th></tr>`);
    for (const g of rows) {
      out.push(
        `<tr><td>${escapeXml(groupLabel(g))}</td><td>${g.runs.length}${g.failed > 0 ? ` (+${g.failed} failed)` : ''}</td><td>${fmtCi(g.final)}</td><td>${fmtCi(g.best)}</td><td>${fmtInt(g.trainableParams)}</td><td>${fmt(g.wallTimeSec, 3)}</td></tr>`,
      );
    }
    out.push('</table><div class="charts">');
    const series: LineSeries[] = rows.map((g) => ({ name: groupLabel(g), points: meanLossCurve(g) }));
    out.push(lineChart(`${task.name}: training loss (mean over seeds)`, series, 'optimizer step', 'loss (nats/token)'));
    out.push(
      barChart(
        `${task.name}: final ${m.label}, mean ± 95% CI`,
        rows.map((g) => ({ name: groupLabel(g), value: g.final.mean, err: g.final.halfWidth })),
        m.label,
        m.better === 'higher',
      ),
    );
    out.push(
      scatterChart(
        `${task.name}: ${m.label} vs trainable parameters`,
        rows.map((g) => ({ name: groupLabel(g), x: g.trainableParams, y: g.final.mean, err: g.final.halfWidth })),
        'trainable parameters (log scale)',
        m.label,
      ),
    );
    const paired = claims.flatMap((c) => c.comparisons.filter((cmp) => cmp.task === task.name && cmp.paired !== null));
    if (paired.length > 0) {
      const diffRows = paired.map((cmp) => ({ name: `${cmp.challenger.method} r${cmp.challenger.r} − ${cmp.baseline.method} r${cmp.baseline.r}`, ...(cmp.paired as PairedDifference) }));
      out.push(
        pairedDiffChart(`${task.name}: per-seed differences in final ${m.label}, mean and paired 95% CI`, diffRows, `challenger − baseline (${m.label})`, m.better === 'lower' ? 'left' : 'right'),
      );
    }
    out.push('</div>');
  }

  out.push('<h2>Task-specific directions</h2>');
  const spec = spectrumSource(results);
  if (spec === null) {
    out.push('<p class="note">No TSD method recorded a change-rate spectrum.</p>');
  } else {
    out.push(
      `<p class="note">Change rates δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ (Si et al., eq. 3) of every singular direction of <code>${escapeXml(spec.module)}</code> in run <code>${escapeXml(spec.run.key)}</code>; the ${spec.selected.length} chosen TSDs (${spec.selected.join(', ')}) are red and marked ▼.</p>`,
    );
    out.push(spectrumChart(`change-rate spectrum: ${spec.module}`, spec.rates, spec.selected));
  }
  const overlap = tsdOverlapAcrossTasks(results);
  if (overlap === null) {
    out.push('<p class="note">No TSD selections recorded, so no overlap heatmap.</p>');
  } else {
    out.push(
      `<p class="note">Overlap of the selected directions (${escapeXml(overlap.method)} r${overlap.r}): mean over modules of |I ∩ J| / s between runs of two tasks; the diagonal compares different seeds of the same task${overlap.tasks.length < 2 ? '. Run more than one task to compare tasks' : ''}.</p>`,
    );
    out.push(heatmap(`TSD overlap across tasks (${overlap.method} r${overlap.r})`, overlap.tasks, overlap.values));
  }
  out.push('</body></html>');
  return `${out.join('\n')}\n`;
}
