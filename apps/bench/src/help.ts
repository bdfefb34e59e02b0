import { PRESETS, PRESET_NAMES } from './presets.js';
import { benchMethods } from './report/methods.js';
import { TASKS } from './tasks/registry.js';
import { TASK_NAMES } from './tasks/types.js';

/** The `--help` text. */
export function helpText(): string {
  const presets = PRESET_NAMES.map((p) => `  ${p.padEnd(11)} ${PRESETS[p].summary}`).join('\n');
  const labelled = ' or, for ≤ 20 distinct eval completions, label accuracy (higher is better)';
  const tasks = TASK_NAMES.map((t) => `  ${t.padEnd(22)} metric: ${TASKS[t].metric.label} (${TASKS[t].metric.better} is better)${t === 'custom' ? labelled : ''}`).join('\n');
  return `tsd-bench: fine-tune a small LLM with every tsd-peft method on the same data and seeds,
and report quality, cost and the paper's claims honestly (results.json, results.md, report.html).

Usage: tsd-bench [options]

Runs:
  --preset NAME          quick (default) | full | efficiency | claims
  --methods LIST         ${benchMethods().join(',')}
  --tasks LIST           ${TASK_NAMES.join(',')}
  --r LIST               LoRA ranks, e.g. 8 or 4,32 (full fine-tuning ignores r)
  --alpha N              lora_alpha (default 2·r, i.e. scaling 2 at every rank; PEFT's default is 8)
  --t N                  LoRA-Dash launch step / LoRA-Init estimate steps
  --s N                  number of task-specific directions
  --steps N              optimizer steps per run
  --lr X                 learning rate (Adam, constant)
  --seeds LIST           seeds, e.g. 0,1,2 (each seed fixes init and data order)
  --batch-size N, --seq-len N, --eval-every N
  --eval-tokens N, --eval-examples N, --train-examples N
  --target-modules LIST  e.g. q_proj,v_proj
Model and data:
  --model ID|PATH        HF hub id, HF folder, transformers.js ONNX folder or llama2.c .bin
                         (default: the stories260K fixture, else karpathy/tinyllamas from the hub)
  --tokenizer PATH       tokenizer folder, or a SentencePiece .model (converted) for a .bin
  --data FILE --eval FILE  custom task: JSONL of {"text"} or {"prompt","completion"}
  --backend NAME         TF.js backend: cpu | wasm | tensorflow | webgpu (default: best available;
                         on webgpu the report adds MFU and peak GPU memory)
Output:
  --out DIR              default bench-results/<timestamp>; rerun with the same DIR to resume
  -v, --verbose          stack traces on errors
  -V, --version          print the version
  -h, --help
Hub downloads honour HF_TOKEN, HF_HUB_OFFLINE=1 (cache and local folders only) and HF_ENDPOINT (a mirror).

Presets:
${presets}

Tasks:
${tasks}

Examples:
  tsd-bench                                   # quick preset, every method, about 1 min on 2 cores
  tsd-bench --preset full --out bench-results/full
  tsd-bench --preset efficiency               # LoRA-Dash at r/8 vs LoRA at r
  tsd-bench --preset claims --out claims      # the paper claims, 5 paired seeds, ~30 min on 2 cores
  tsd-bench --methods lora,lora-dash --r 4,32 --seeds 0,1,2 --steps 200
  tsd-bench --model ./my-model --data train.jsonl --eval eval.jsonl
  tsd-bench --out bench-results/2025-01-01T10-00-00   # resume an interrupted bench

Exit status: 0 done, 1 unexpected failure, 2 bad arguments or configuration, 130 interrupted.
`;
}
