import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@tsd-peft/core/testing';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../args.js';
import { main } from '../main.js';
import { ProgressDisplay } from '../progress.js';
import { benchMethods } from '../report/methods.js';
import { loadResults } from '../report/results-store.js';
import { validateResults } from '../report/validate.js';
import { runBench } from '../runner.js';
import { openTfjsBackend } from './tfjs-bench-backend.js';
import { TextSink } from '../testing/text-sink.js';

// The real stack end to end: stories260K from the fixtures, TF.js training, real tasks.
fixturePath('reference', 'hf', 'stories260K', 'config.json');

const TINY = ['--steps', '4', '--t', '2', '--eval-every', '2', '--batch-size', '2', '--seq-len', '32', '--eval-tokens', '128', '--eval-examples', '6', '--train-examples', '16'];

describe('tsd-bench end to end on stories260K', () => {
  it('every method gives finite metrics on a real and a synthetic task; the report files are valid', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsd-e2e-'));
    const stdout = new TextSink();
    const stderr = new TextSink();
    const status = await main(['--tasks', 'shakespeare,addition', '--seeds', '0', '--out', out, ...TINY], { stdout, stderr, openBackend: openTfjsBackend });
    expect(stderr.text).toBe('');
    expect(status).toBe(0);
    const results = validateResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    // 264,128 in the fixtures README counts llama2.c's stored RoPE tables (2 × 512 × 4); the model has 260,032 weights
    expect(results.model).toMatchObject({ source: 'fixtures', parameters: 264_128 - 2 * 512 * 4 });
    expect(results.runs).toHaveLength(2 * benchMethods().length);
    // zero-shot NLL of stories260K on Shakespeare is ~4.8 (fixtures README); 128 tokens make it noisier
    const base = results.tasks.find((t) => t.name === 'shakespeare')?.baseline['val_nll'];
    expect(base).toBeGreaterThan(4);
    expect(base).toBeLessThan(6);
    for (const run of results.runs) {
      expect(run.status, run.key).toBe('done');
      for (const v of Object.values(run.final)) expect(Number.isFinite(v), `${run.key} ${JSON.stringify(run.final)}`).toBe(true);
      expect(run.lossCurve.every((p) => Number.isFinite(p.loss))).toBe(true);
      expect(run.trainableParams).toBeGreaterThan(0);
      expect(run.tokensPerSec).toBeGreaterThan(0);
    }
    const params = (m: string) => results.runs.find((r) => r.config.method === m)?.trainableParams;
    // LoRA r=8 on q_proj (64×64) and v_proj (32×64) of 5 layers: 5 · 8 · (64+64 + 64+32)
    expect(params('lora')).toBe(5 * 8 * (64 + 64 + 64 + 32));
    // Dash adds s = 4 coefficients per module after launch
    expect(params('lora-dash')).toBe(5 * 8 * (64 + 64 + 64 + 32) + 10 * 4);
    // full fine-tuning trains every linear projection (tied embedding/head excluded)
    expect(params('full')).toBe(5 * (64 * 64 + 32 * 64 * 2 + 64 * 64 + 3 * 64 * 172));
    const dash = results.runs.find((r) => r.config.method === 'lora-dash' && r.config.task === 'shakespeare');
    expect(dash?.tsd?.modules).toHaveLength(10);
    expect(dash?.tsd?.modules[0]?.indices).toHaveLength(4);
    expect(dash?.tsd?.modules[0]?.spectrum).toHaveLength(64);
    // When each method selected (--t 2; LoRA-TSD launches t steps after LoRA-Init's re-init), as the variants report it
    const at = (method: string) => results.runs.find((r) => r.config.method === method && r.config.task === 'shakespeare')?.tsd?.selectedAtStep;
    expect([at('lora-dash'), at('lora-init'), at('lora-tsd')]).toEqual([2, 2, 4]);
    // LoRA-Init and LoRA-TSD record change rates too: LoRA-Init's under its ΔW estimate (r = 8 directions),
    // LoRA-TSD's at its launch, each the spectrum's value at the selected index and in descending order
    for (const method of ['lora-init', 'lora-tsd']) {
      const run = results.runs.find((r) => r.config.method === method && r.config.task === 'shakespeare');
      expect(run?.tsd?.modules, method).toHaveLength(10);
      for (const m of run?.tsd?.modules ?? []) {
        expect(m.changeRates.length, `${method} ${m.module}`).toBe(m.indices.length);
        expect(m.indices.length).toBeGreaterThan(0);
        m.indices.forEach((i, k) => expect(m.changeRates[k]).toBe(m.spectrum?.[i]));
        for (let k = 1; k < m.changeRates.length; k++) expect(m.changeRates[k] as number).toBeLessThanOrEqual(m.changeRates[k - 1] as number);
      }
    }
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain('## shakespeare: val NLL (lower is better)');
    expect(md).toContain('**LoRA-Dash beats LoRA at equal rank**');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('data-chart="spectrum"');
  }, 600_000);

  it('an interrupted run resumes from its checkpoint and matches an uninterrupted one', async () => {
    const args = ['--tasks', 'addition', '--methods', 'lora-dash', '--seeds', '3', ...TINY, '--steps', '6', '--t', '3', '--eval-every', '3'];
    const parse = (out: string) => {
      const parsed = parseBenchArgs([...args, '--out', out]);
      if (parsed.help) throw new Error('help');
      return parsed.options;
    };
    const straight = mkdtempSync(join(tmpdir(), 'tsd-e2e-'));
    await runBench({ options: parse(straight), openBackend: openTfjsBackend, progress: new ProgressDisplay(new TextSink()) });

    const out = mkdtempSync(join(tmpdir(), 'tsd-e2e-'));
    const controller = new AbortController();
    class StopAt4 extends ProgressDisplay {
      override step(step: number, loss: number): void {
        super.step(step, loss);
        if (step === 4) controller.abort();
      }
    }
    const first = await runBench({ options: parse(out), openBackend: openTfjsBackend, progress: new StopAt4(new TextSink()), signal: controller.signal });
    expect(first.interrupted).toBe(true);
    expect(loadResults(out)?.runs).toEqual([]);
    const second = await runBench({ options: parse(out), openBackend: openTfjsBackend, progress: new ProgressDisplay(new TextSink()) });
    expect(second.completed).toBe(1);
    const [a] = loadResults(straight)?.runs ?? [];
    const [b] = loadResults(out)?.runs ?? [];
    expect(b?.resumedFromStep).toBe(4);
    // the trainer restores weights, Adam state, RNG and data cursor: the resumed run is the same computation
    expect(b?.lossCurve).toEqual(a?.lossCurve);
    expect(b?.final).toEqual(a?.final);
    expect(b?.tsd).toEqual(a?.tsd);
  }, 600_000);
});
