import { ADAPTER_DEFAULTS } from '@tsd-peft/tfjs';
import { benchMethods } from './report/methods.js';
import type { MethodName } from './report/schema.js';
import type { TaskName, TaskSizes } from './tasks/types.js';

/**
 * The bench's default lora_alpha for rank `r`: 2·r, where the library, the
 * CLI and PEFT use 8 (`ADAPTER_DEFAULTS.alpha`). The bench sweeps ranks, and
 * alpha = 2·r keeps the scaling alpha/r at 2 for every rank, so methods and
 * ranks are compared at equal scaling rather than at 8/r. `--alpha` overrides.
 */
export function benchAlpha(r: number): number {
  return 2 * r;
}

/** The presets `--preset` accepts. */
export const PRESET_NAMES = ['quick', 'full', 'efficiency', 'claims'] as const;
/** A preset name. */
export type PresetName = (typeof PRESET_NAMES)[number];

/** One planned (method, r) of a bench; `full` always has r = 0 (its rank is meaningless). */
export interface MethodRank {
  method: MethodName;
  r: number;
}

/** Everything a preset fixes; CLI flags override single fields. */
export interface Preset {
  name: PresetName;
  /** One line for `--help` and the report. */
  summary: string;
  tasks: TaskName[];
  methods: MethodName[];
  /** Ranks every method runs at (ignored when `pairs` is set). */
  ranks: number[];
  /** Explicit (method, r) pairs, for the efficiency comparison. */
  pairs?: MethodRank[];
  seeds: number[];
  steps: number;
  lr: number;
  /** LoRA-Dash launch step and LoRA-Init/TSD estimate length (Si et al. §4: a short pre-launch). */
  t: number;
  /** Number of task-specific directions. */
  s: number;
  batchSize: number;
  evalEvery: number;
  sizes: TaskSizes;
  targetModules: string[];
}

/**
 * quick: `npm run bench` with no arguments. Every method, 3 seeds (so the
 * 95% CIs use t₂ = 4.30 rather than t₁ = 12.7), the real Shakespeare task
 * (which also records TinyStories NLL, i.e. forgetting), 80 steps with
 * evaluations at 40 and 80. `npm run bench` measured 1 min 9 s wall on an
 * idle 2-core machine with stories260K on the wasm backend (24 runs of ~2.4 s
 * plus loading and tokenizing; 0.54 GB peak RSS); a busy machine stretches it
 * to ~3 min.
 */
const quick: Preset = {
  name: 'quick',
  summary: 'every method, 3 seeds, shakespeare (real data), 80 steps: about 1 minute on 2 cores',
  tasks: ['shakespeare'],
  // read at use, so methods registered after import are included
  get methods(): MethodName[] {
    return benchMethods();
  },
  ranks: [8],
  seeds: [0, 1, 2],
  steps: 80,
  lr: 3e-3,
  t: 20,
  s: 4,
  batchSize: 4,
  evalEvery: 40,
  sizes: { seqLen: 64, evalTokens: 2048, evalExamples: 100, trainExamples: 1000 },
  targetModules: [...ADAPTER_DEFAULTS.targetModules],
};

/** full: the complete comparison, every built-in task, 3 seeds, longer training. */
const full: Preset = {
  name: 'full',
  summary: 'every method and built-in task, 3 seeds, 300 steps (hours on a CPU)',
  tasks: ['shakespeare', 'tinystories-retention', 'sst2', 'addition', 'reversal'],
  // read at use, so methods registered after import are included
  get methods(): MethodName[] {
    return benchMethods();
  },
  ranks: [8],
  seeds: [0, 1, 2],
  steps: 300,
  lr: 3e-3,
  t: 50,
  s: 4,
  batchSize: 8,
  evalEvery: 50,
  sizes: { seqLen: 64, evalTokens: 8192, evalExamples: 300, trainExamples: 4000 },
  targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

/** efficiency: LoRA-Dash at r/8 against LoRA at r (and LoRA at r/8 as the equal-budget control). */
const efficiency: Preset = {
  name: 'efficiency',
  summary: 'LoRA-Dash at r/8 vs LoRA at r (r = 16), plus LoRA at r/8, 3 seeds, shakespeare',
  tasks: ['shakespeare'],
  methods: ['lora', 'lora-dash'],
  ranks: [16],
  pairs: [
    { method: 'lora', r: 16 },
    { method: 'lora-dash', r: 2 },
    { method: 'lora', r: 2 },
  ],
  seeds: [0, 1, 2],
  steps: 150,
  lr: 3e-3,
  t: 30,
  s: 4,
  batchSize: 4,
  evalEvery: 50,
  sizes: { seqLen: 64, evalTokens: 4096, evalExamples: 100, trainExamples: 1000 },
  targetModules: [...ADAPTER_DEFAULTS.targetModules],
};

/**
 * claims: the paper's comparisons with the paper's t = 100 and s = 8 and 5
 * paired seeds (so the paired 95% interval uses t₄ = 2.78): LoRA vs LoRA-Dash
 * at r = 8, LoRA-Dash at r/8 = 1 vs LoRA at 8, LoRA-Init and LoRA-TSD vs
 * LoRA at 8. 1600 steps is the longest schedule that fits about 30 minutes on
 * 2 shared cores: 250 steps timed at 8.5 s (0.034 s/step, wasm, stories260K,
 * load average 3.4), so 25 runs × (1600 × 0.034 s + 4 evaluations) ≈ 23 min,
 * leaving headroom for a busier machine (the first full run took 36.6 min
 * at load average 5–7, when the quick preset took 3 min instead of its quiet
 * 1 min 9 s). LoRA-TSD's Dash part launches at
 * 2t = 200, well inside the schedule.
 */
const claims: Preset = {
  name: 'claims',
  summary: 'the paper claims (Dash vs LoRA at r = 8, Dash r1 vs LoRA r8, Init and TSD vs LoRA), t = 100, s = 8, 5 paired seeds, 1600 steps: about 30 minutes on 2 cores (37 on a busy shared machine)',
  tasks: ['shakespeare'],
  methods: ['lora', 'lora-dash', 'lora-init', 'lora-tsd'],
  ranks: [8],
  pairs: [
    { method: 'lora', r: 8 },
    { method: 'lora-dash', r: 8 },
    { method: 'lora-dash', r: 1 },
    { method: 'lora-init', r: 8 },
    { method: 'lora-tsd', r: 8 },
  ],
  seeds: [0, 1, 2, 3, 4],
  steps: 1600,
  lr: 3e-3,
  t: 100,
  s: 8,
  batchSize: 4,
  evalEvery: 400,
  sizes: { seqLen: 64, evalTokens: 4096, evalExamples: 100, trainExamples: 1000 },
  targetModules: [...ADAPTER_DEFAULTS.targetModules],
};

/** Every preset by name. */
export const PRESETS: Readonly<Record<PresetName, Preset>> = { quick, full, efficiency, claims };
