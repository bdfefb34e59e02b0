import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '@tsd-peft/core';
import { isDenseMethod } from '@tsd-peft/tfjs';
import { PRESETS, PRESET_NAMES, type MethodRank, type Preset, type PresetName } from './presets.js';
import { benchMethods, isKnownMethod, tsdMethods } from './report/methods.js';
import type { MethodName } from './report/schema.js';
import { readCustomJsonl } from './tasks/custom-jsonl.js';
import { TASK_NAMES, type TaskName, type TaskSizes } from './tasks/types.js';

/** A bad command line: the CLI prints its message on one line and exits with status 2. */
export class UsageError extends ConfigError {}

export type { MethodRank } from './presets.js';

/** The fully resolved bench configuration: the preset's fields, each possibly overridden by its flag. */
export interface BenchOptions extends Pick<Preset, 'tasks' | 'seeds' | 'steps' | 'lr' | 't' | 's' | 'batchSize' | 'evalEvery' | 'sizes' | 'targetModules'> {
  preset: PresetName;
  pairs: MethodRank[];
  /** Fixed lora_alpha, or null for the default 2·r (scaling 2 at every rank). */
  alpha: number | null;
  /** `--model`, or null for the default model. */
  model: string | null;
  /** `--tokenizer` (folder with tokenizer.json, or a SentencePiece .model), or null. */
  tokenizer: string | null;
  out: string;
  backend: string | null;
  custom?: { train: string; eval: string };
  verbose: boolean;
}

/** What {@link parseBenchArgs} found: a help request or options. */
export type ParsedArgs = { help: true } | { help: false; options: BenchOptions };

const OPTIONS = {
  methods: { type: 'string' },
  tasks: { type: 'string' },
  r: { type: 'string' },
  alpha: { type: 'string' },
  t: { type: 'string' },
  s: { type: 'string' },
  steps: { type: 'string' },
  lr: { type: 'string' },
  seeds: { type: 'string' },
  'batch-size': { type: 'string' },
  'seq-len': { type: 'string' },
  'eval-every': { type: 'string' },
  'eval-tokens': { type: 'string' },
  'eval-examples': { type: 'string' },
  'train-examples': { type: 'string' },
  'target-modules': { type: 'string' },
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  preset: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
  data: { type: 'string' },
  eval: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

function list(value: string, flag: string): string[] {
  const items = value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (items.length === 0) throw new UsageError(`--${flag} needs at least one value`);
  return items;
}

function int(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${value}"`);
  return n;
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got "${value}"`);
  return n;
}

/** `bench-results/<timestamp>` (UTC, filesystem-safe). */
export function defaultOutDir(now: Date = new Date()): string {
  return join('bench-results', now.toISOString().replace(/[:.]/g, '-').replace(/Z$/, ''));
}

/** Whether `spec` names a local path rather than a hub id (`owner/name`). */
export function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('~') || /^[A-Za-z]:[\\/]/.test(spec) || spec.endsWith('.bin') || spec.split('/').length > 2;
}

/**
 * Parses `tsd-bench` arguments into {@link BenchOptions}: preset defaults,
 * then flags. Throws {@link UsageError} (→ one line, exit 2) on an unknown
 * flag, method or task, a malformed number, a `--model` path that does not
 * exist, or `--data`/`--eval` files that are missing, empty or malformed —
 * before any model is loaded.
 */
export function parseBenchArgs(argv: readonly string[]): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown !== null) throw new UsageError(`unknown option ${unknown[1]} (see tsd-bench --help)`);
    const positional = /Unexpected argument '([^']+)'/.exec(message);
    if (positional !== null) throw new UsageError(`unexpected argument "${positional[1]}" (tsd-bench takes only --options; see --help)`);
    const missing = /Option '(-[\w-]*(?:, )?-*[\w-]*)[^']*' argument (missing|is ambiguous)/.exec(message);
    if (missing !== null) throw new UsageError(`${(missing[1] as string).split(', ').at(-1)} needs a value`);
    throw new UsageError(message.split('\n')[0] ?? String(error));
  }
  if (values['help'] === true) return { help: true };
  const str = (k: string): string | undefined => values[k] as string | undefined;

  const presetName = str('preset') ?? 'quick';
  if (!(PRESET_NAMES as readonly string[]).includes(presetName)) {
    throw new UsageError(`unknown preset "${presetName}" (expected one of: ${PRESET_NAMES.join(', ')})`);
  }
  const preset = PRESETS[presetName as PresetName];

  const methods = str('methods') === undefined ? null : list(str('methods') as string, 'methods');
  for (const m of methods ?? []) {
    if (!isKnownMethod(m)) throw new UsageError(`unknown method "${m}" (expected one of: ${benchMethods().join(', ')})`);
  }
  const ranks = str('r') === undefined ? null : list(str('r') as string, 'r').map((x) => int(x, 'r', 1));

  const data = str('data');
  const evalFile = str('eval');
  if ((data === undefined) !== (evalFile === undefined)) throw new UsageError('--data and --eval go together (train.jsonl and eval.jsonl)');
  let custom: BenchOptions['custom'];
  if (data !== undefined && evalFile !== undefined) {
    for (const f of [data, evalFile]) readCustomJsonl(f); // fail now, with the file named, not after loading the model
    custom = { train: data, eval: evalFile };
  }
  const tasks = str('tasks') === undefined ? (custom === undefined ? preset.tasks : ['custom']) : list(str('tasks') as string, 'tasks');
  for (const t of tasks) {
    if (!(TASK_NAMES as readonly string[]).includes(t)) throw new UsageError(`unknown task "${t}" (expected one of: ${TASK_NAMES.join(', ')})`);
  }
  if (tasks.includes('custom') && custom === undefined) throw new UsageError('task "custom" needs --data train.jsonl --eval eval.jsonl');

  let pairs: MethodRank[];
  if (methods === null && ranks === null && preset.pairs !== undefined) {
    pairs = preset.pairs;
  } else {
    const ms = (methods ?? preset.methods) as MethodName[];
    const rs = ranks ?? preset.ranks;
    pairs = ms.flatMap((method): MethodRank[] => (isDenseMethod(method) ? [{ method, r: 0 }] : rs.map((r) => ({ method, r }))));
  }

  const seeds = str('seeds') === undefined ? preset.seeds : list(str('seeds') as string, 'seeds').map((x) => int(x, 'seeds', 0));
  if (new Set(seeds).size !== seeds.length) throw new UsageError('--seeds has duplicates');
  const steps = str('steps') === undefined ? preset.steps : int(str('steps') as string, 'steps', 1);
  const t = str('t') === undefined ? Math.min(preset.t, Math.max(1, steps - 1)) : int(str('t') as string, 't', 1);
  const tsd = tsdMethods();
  const tsdMethod = pairs.some((p) => tsd.includes(p.method));
  if (tsdMethod && t >= steps) throw new UsageError(`--t (${t}) must be below --steps (${steps}) so the TSD methods launch during training`);

  const model = str('model') ?? null;
  if (model !== null && looksLikePath(model) && !existsSync(model)) throw new UsageError(`model not found: ${model} (pass a folder, a llama2.c .bin or a hub id)`);
  const tokenizer = str('tokenizer') ?? null;
  if (tokenizer !== null && !existsSync(tokenizer)) throw new UsageError(`tokenizer not found: ${tokenizer}`);

  const sizes: TaskSizes = {
    seqLen: str('seq-len') === undefined ? preset.sizes.seqLen : int(str('seq-len') as string, 'seq-len', 2),
    evalTokens: str('eval-tokens') === undefined ? preset.sizes.evalTokens : int(str('eval-tokens') as string, 'eval-tokens', 2),
    evalExamples: str('eval-examples') === undefined ? preset.sizes.evalExamples : int(str('eval-examples') as string, 'eval-examples', 1),
    trainExamples: str('train-examples') === undefined ? preset.sizes.trainExamples : int(str('train-examples') as string, 'train-examples', 1),
  };
  const evalEvery = str('eval-every') === undefined ? Math.min(preset.evalEvery, steps) : int(str('eval-every') as string, 'eval-every', 1);

  return {
    help: false,
    options: {
      preset: preset.name,
      tasks: tasks as TaskName[],
      pairs,
      seeds,
      steps,
      lr: str('lr') === undefined ? preset.lr : positive(str('lr') as string, 'lr'),
      alpha: str('alpha') === undefined ? null : positive(str('alpha') as string, 'alpha'),
      t,
      s: str('s') === undefined ? preset.s : int(str('s') as string, 's', 1),
      batchSize: str('batch-size') === undefined ? preset.batchSize : int(str('batch-size') as string, 'batch-size', 1),
      evalEvery,
      sizes,
      targetModules: str('target-modules') === undefined ? preset.targetModules : list(str('target-modules') as string, 'target-modules'),
      model,
      tokenizer,
      out: str('out') ?? defaultOutDir(),
      backend: str('backend') ?? null,
      ...(custom === undefined ? {} : { custom }),
      verbose: values['verbose'] === true,
    },
  };
}
