import { ConfigError } from '@tsd-peft/core';
import { setupBackend, type BackendName } from '@tsd-peft/tfjs';
import { loadCausalLM } from '../load-causal-lm.js';
import {
  adapterSpectra,
  findLocalBaseModel,
  locateAdapter,
  readAdapterForInspection,
  sparkline,
  summarizeModel,
  type AdapterSummary,
  type ModelSummary,
  type ModuleSpectrum,
} from '../training/adapter-summary.js';
import { numberOption, parseCommandArgs, type Command } from './command.js';

/** `tsd-peft inspect`: model or adapter summary; with its base model, each module's change-rate spectrum and TSDs. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'summarize a model or adapter; with its base model, change rates and TSDs',
  help: `Usage: tsd-peft inspect <model-dir|adapter-dir|adapter.safetensors> [--base <model>] [--json] [--top 8]

For a model (HF folder, hub id, ONNX folder or llama2.c .bin): type, layers, parameters
and linear modules. For an adapter (a PEFT folder, a native .safetensors, or a
'tsd-peft train' output folder): method, r, alpha, modules and parameters.
With the base model, each module's change-rate spectrum under the adapter's ΔW (Si et al.:
δᵢ = |uᵢᵀ ΔW vᵢ| / σᵢ over the SVD of the base weight) and its top directions
(task-specific directions) as σ index and rate. The sketch shows the spectrum in σ order,
largest σ on the left; TSDs usually stand out among the small-σ directions.
The base is --base, else the adapter's recorded base_model_name_or_path when that is a
local model (as written, or relative to the adapter's folder or the one above it); a hub
id is only downloaded when passed as --base.

Options:
  --base <model>     base model of the adapter (default: the recorded one, if local)
  --top <n>          directions to list per module (default 8)
  --json             print JSON instead of a table
  --backend <name>   TF.js backend for loading models (default: best available)

Example:
  tsd-peft inspect runs/dash/adapter --base ./stories260K --top 4`,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'inspect',
      argv,
      { base: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean', default: false }, backend: { type: 'string' } },
      true,
    );
    const [target, ...more] = positionals;
    if (target === undefined) throw new ConfigError('missing the model or adapter path (see `tsd-peft inspect --help`)');
    if (more.length > 0) throw new ConfigError(`one path expected, got ${positionals.length}`);
    const top = numberOption('inspect', values, 'top', 8, true);
    if (top < 1) throw new ConfigError(`--top must be ≥ 1, got ${top}`);
    const json = values.json === true;
    const located = locateAdapter(target);
    await setupBackend(values.backend as BackendName | undefined);

    if (located === null) {
      if (typeof values.base === 'string') throw new ConfigError('--base is for adapters, and this is not an adapter folder or file', { file: target });
      const model = await loadCausalLM(target, { tokenizer: false });
      try {
        const summary = summarizeModel(model);
        if (json) io.out(JSON.stringify(summary, null, 1));
        else printModel(summary, io.out);
      } finally {
        model.dispose();
      }
      return;
    }

    const { summary, deltas } = readAdapterForInspection(located);
    const recordedBase = typeof values.base === 'string' ? null : findLocalBaseModel(summary.baseModel, located.path);
    const basePath = typeof values.base === 'string' ? values.base : recordedBase;
    let spectra: ModuleSpectrum[] | null = null;
    if (basePath !== null) {
      const base = await loadCausalLM(basePath, { tokenizer: false });
      try {
        spectra = adapterSpectra(deltas, base, top);
      } finally {
        base.dispose();
      }
    }
    if (json) {
      io.out(JSON.stringify({ ...summary, ...(spectra === null ? {} : { spectraBase: basePath, spectra }) }, null, 1));
      return;
    }
    printAdapter(summary, io.out);
    if (spectra !== null) {
      if (recordedBase !== null) io.out(`(spectrum against the recorded base, found at ${recordedBase})`);
      printSpectra(spectra, summary, io.out);
    } else if (summary.baseModel !== null) {
      io.out(`(the recorded base ${summary.baseModel} is not a local model here; pass --base <folder or hub id> for the change-rate spectrum and task-specific directions)`);
    } else {
      io.out('(pass --base <model> for the change-rate spectrum and task-specific directions)');
    }
  },
};

function printModel(s: ModelSummary, out: (line: string) => void): void {
  out(`model     ${s.modelType} (${s.source})`);
  out(`layers    ${s.layers}, hidden ${s.hiddenSize}, vocab ${s.vocabSize}`);
  out(`params    ${s.parameters.toLocaleString('en-US')}`);
  // Group per-layer modules by suffix: "q_proj ×5 [64, 64]".
  const groups = new Map<string, { count: number; shapes: Set<string> }>();
  for (const m of s.linearModules) {
    const key = m.name.replace(/\.\d+\./, '.N.');
    const g = groups.get(key) ?? { count: 0, shapes: new Set<string>() };
    g.count += 1;
    g.shapes.add(`[${m.shape.join(', ')}]`);
    groups.set(key, g);
  }
  out(`linear    ${s.linearModules.length} modules (adapter targets, [out, in]):`);
  for (const [name, g] of groups) out(`  ${name.padEnd(36)} ×${String(g.count).padEnd(3)} ${[...g.shapes].join(' ')}`);
}

function printAdapter(s: AdapterSummary, out: (line: string) => void): void {
  out(`adapter   ${s.format} ${s.path}`);
  out(`method    ${s.method}${s.useRslora ? ' (rsLoRA scaling)' : ''}${s.r === null ? '' : `, r ${s.r}`}${s.alpha === null ? '' : `, alpha ${s.alpha}`}`);
  if (s.baseModel !== null) out(`base      ${s.baseModel}`);
  out(`modules   ${s.modules.length} (${s.targetModules.join(', ')})`);
  out(`params    ${s.parameters.toLocaleString('en-US')}`);
  const opaque = s.modules.filter((m) => m.stateTensors !== undefined);
  if (opaque.length > 0) {
    out('modules without LoRA factors (their method keeps its own state; no spectrum):');
    for (const m of opaque) out(`  ${m.name.padEnd(36)} ${m.method}: ${(m.stateTensors ?? []).map((t) => `${t.name} [${t.shape.join(', ')}]`).join(', ')}`);
  }
  const launched = s.modules.filter((m) => m.dashSelected !== undefined);
  if (launched.length > 0) {
    out('LoRA-Dash directions at launch (σ indices, by change rate):');
    for (const m of launched) out(`  ${m.name.padEnd(36)} ${(m.dashSelected ?? []).join(' ')}`);
  }
}

function printSpectra(spectra: ModuleSpectrum[], s: AdapterSummary, out: (line: string) => void): void {
  const dash = new Map(s.modules.map((m) => [m.name, m.dashSelected]));
  out('change-rate spectrum and task-specific directions (TSD = #σ-index:rate, by rate):');
  out(`  ${'module'.padEnd(36)} ${'spectrum (σ ↓)'.padEnd(16)}  max rate   TSDs`);
  for (const sp of spectra) {
    const max = Math.max(...sp.rates);
    const tsds = sp.top.map((t) => `#${t.index}:${t.rate.toExponential(2)}`).join(' ');
    out(`  ${sp.name.padEnd(36)} ${sparkline(sp.rates).padEnd(16)}  ${max.toExponential(2)}  ${tsds}`);
    const launched = dash.get(sp.name);
    if (launched !== undefined) {
      const overlap = launched.filter((i) => sp.top.some((t) => t.index === i)).length;
      out(`  ${''.padEnd(36)} launch selected ${launched.join(' ')} (${overlap}/${launched.length} among the current top ${sp.top.length})`);
    }
  }
}
