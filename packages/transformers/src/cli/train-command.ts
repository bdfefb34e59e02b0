import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, type JsonObject } from '@tsd-peft/core';
import { saveNativeAdapter, savePeftAdapter, writeFileAtomic } from '@tsd-peft/core/node';
import { moduleOfWeight, selectTargetModules, setupBackend, VARIANTS, type AdapterConfig, type AdapterMethod, type BackendName } from '@tsd-peft/tfjs';
import { loadCausalLM } from '../load-causal-lm.js';
import { BatchSource } from '../training/data.js';
import { fineTune, meanLoss, type ScheduleName } from '../training/fine-tune.js';
import { evaluationBatches, padIdOf, readJsonlExamples } from '../training/jsonl-data.js';
import { progressPrinter } from '../training/progress-line.js';
import { numberOption, parseCommandArgs, required, type Command } from './command.js';

const METHODS = Object.keys(VARIANTS) as AdapterMethod[];
const SCHEDULES: readonly ScheduleName[] = ['constant', 'linear', 'cosine'];

/** `tsd-peft train`: fine-tune a causal LM on JSONL data and write PEFT + native adapters, checkpoints and losses. */
export const trainCommand: Command = {
  name: 'train',
  summary: 'fine-tune a causal LM on JSONL data (LoRA, LoRA-Dash, …)',
  help: `Usage: tsd-peft train --model <id|dir|.bin> --data <train.jsonl> --steps <n> --out <dir> [options]

Trains adapters on a Hugging Face causal LM in TF.js. Each JSONL line is {"text": ...}
(loss on every token) or {"prompt": ..., "completion": ...} (loss on the completion only).
Writes <out>/adapter/ (PEFT: plain LoRA relative to the original weights, loadable by
Python PEFT and 'tsd-peft export'), <out>/adapter-native.safetensors (lossless state),
<out>/checkpoints/ and <out>/losses.json. Progress goes to stderr.

Options:
  --model <m>            HF folder, hub id, transformers.js ONNX folder or llama2.c .bin
  --tokenizer <dir|id>   tokenizer, when the model has none (llama2.c .bin)
  --data <file>          training JSONL
  --eval <file>          evaluation JSONL (mean token NLL every --eval-every steps)
  --method <name>        ${METHODS.join(' | ')} (default lora)
  --r <n>                rank (default 8)
  --alpha <x>            lora_alpha (default 2·r, i.e. scaling 2)
  --rslora               rsLoRA scaling alpha/√r
  --target-modules <l>   comma list of module suffixes, or all-linear (default q_proj,v_proj)
  --t <n>                LoRA-Dash/Init/TSD pre-launch optimizer steps (default 100)
  --s <n>                LoRA-Dash directions (default 8)
  --steps <n>            optimizer steps
  --lr <x>               peak learning rate (default 1e-3)
  --schedule <name>      constant | linear | cosine (default constant)
  --warmup <n>           warm-up steps for linear/cosine (default 0)
  --optimizer <name>     adam | adamw (default adam)
  --weight-decay <x>     weight decay (default 0)
  --clip <x>             clip the global gradient norm
  --accumulation <n>     micro-batches per optimizer step (default 1)
  --batch-size <n>       examples per micro-batch (default 8)
  --seq-len <n>          truncate examples to n tokens (default 256)
  --seed <n>             adapter init and data order (default 0)
  --eval-every <n>       steps between evaluations (default steps/5)
  --checkpoint-every <n> steps between checkpoints (default steps/10; the last step always)
  --out <dir>            output folder
  --resume               continue from the last checkpoint in <out>/checkpoints
  --backend <name>       TF.js backend (default: tensorflow if installed, else wasm)

Example:
  tsd-peft train --model ./stories260K --data train.jsonl --eval val.jsonl \\
    --method lora-dash --r 8 --alpha 16 --t 100 --s 8 --steps 400 --lr 1e-3 --out runs/dash`,
  async run(argv, io) {
    const { values } = parseCommandArgs('train', argv, {
      model: { type: 'string' },
      tokenizer: { type: 'string' },
      data: { type: 'string' },
      eval: { type: 'string' },
      method: { type: 'string', default: 'lora' },
      r: { type: 'string' },
      alpha: { type: 'string' },
      rslora: { type: 'boolean', default: false },
      'target-modules': { type: 'string' },
      t: { type: 'string' },
      s: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      schedule: { type: 'string', default: 'constant' },
      warmup: { type: 'string' },
      optimizer: { type: 'string', default: 'adam' },
      'weight-decay': { type: 'string' },
      clip: { type: 'string' },
      accumulation: { type: 'string' },
      'batch-size': { type: 'string' },
      'seq-len': { type: 'string' },
      seed: { type: 'string' },
      'eval-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean', default: false },
      backend: { type: 'string' },
    });
    const num = (name: string, fallback: number, integer = false) => numberOption('train', values, name, fallback, integer);
    const modelId = required('train', values, 'model');
    const dataFile = resolve(required('train', values, 'data'));
    const out = resolve(required('train', values, 'out'));
    if (values.steps === undefined) throw new ConfigError('train: missing --steps');
    const steps = num('steps', 0, true);
    const method = values.method as AdapterMethod;
    if (!METHODS.includes(method)) throw new ConfigError(`train: unknown --method '${String(values.method)}'; choose one of ${METHODS.join(', ')}`);
    const schedule = values.schedule as ScheduleName;
    if (!SCHEDULES.includes(schedule)) throw new ConfigError(`train: unknown --schedule '${String(values.schedule)}'; choose one of ${SCHEDULES.join(', ')}`);
    const optimizerType = values.optimizer;
    if (optimizerType !== 'adam' && optimizerType !== 'adamw') throw new ConfigError(`train: --optimizer must be adam or adamw, got '${String(optimizerType)}'`);
    const r = num('r', 8, true);
    const batchSize = num('batch-size', 8, true);
    const seqLen = num('seq-len', 256, true);
    const seed = num('seed', 0, true);
    const accumulation = num('accumulation', 1, true);
    const warmup = num('warmup', 0, true);
    for (const [name, v, min] of [['steps', steps, 1], ['batch-size', batchSize, 1], ['seq-len', seqLen, 2], ['accumulation', accumulation, 1], ['warmup', warmup, 0]] as const) {
      if (v < min) throw new ConfigError(`train: --${name} must be ≥ ${min}, got ${v}`);
    }
    const evalFile = typeof values.eval === 'string' ? resolve(values.eval) : undefined;
    for (const file of [dataFile, evalFile]) if (file !== undefined && !existsSync(file)) throw new ConfigError('train: no such data file', { file });
    const targets = typeof values['target-modules'] === 'string' ? values['target-modules'] : method === 'full' ? 'all-linear' : 'q_proj,v_proj';
    const adapterConfig: AdapterConfig = {
      method,
      r,
      alpha: num('alpha', 2 * r),
      useRslora: values.rslora === true,
      targetModules: targets === 'all-linear' ? 'all-linear' : targets.split(',').map((m) => m.trim()).filter((m) => m !== ''),
      seed,
      t: num('t', 100, true),
      s: num('s', 8, true),
    };

    const backend = await setupBackend(values.backend as BackendName | undefined);
    const model = await loadCausalLM(modelId, typeof values.tokenizer === 'string' ? { tokenizer: values.tokenizer } : {});
    try {
      const tokenizer = model.tokenizer;
      if (tokenizer === null) throw new ConfigError('train: the model has no tokenizer.json; pass --tokenizer <folder or hub id>', { file: modelId });
      // Fail on unknown target modules before reading data (the error lists the available modules).
      selectTargetModules(
        [...model.weights].filter(([, t]) => t.rank === 2).map(([name]) => moduleOfWeight(name)),
        adapterConfig.targetModules ?? ['q_proj', 'v_proj'],
      );
      const padId = padIdOf(tokenizer);
      const train = readJsonlExamples(dataFile, tokenizer, { seqLen });
      const evalBatches = evalFile === undefined ? [] : evaluationBatches(readJsonlExamples(evalFile, tokenizer, { seqLen }), batchSize, padId);
      const source = new BatchSource(train, { batchSize: Math.min(batchSize, train.length), seed, padId });
      const evalEvery = num('eval-every', Math.max(1, Math.floor(steps / 5)), true);
      const checkpointEvery = num('checkpoint-every', Math.max(1, Math.floor(steps / 10)), true);
      io.err.write(`train: ${modelId} (${model.modelType}, ${backend}), ${method} r=${r}, ${train.length} examples, ${steps} steps${values.resume === true ? ', resuming' : ''}\n`);
      const { adapter, result } = await fineTune({
        model,
        adapter: adapterConfig,
        data: source,
        steps,
        lr: num('lr', 1e-3),
        schedule,
        ...(schedule === 'constant' ? {} : { warmupSteps: warmup }),
        optimizer: { type: optimizerType, weightDecay: num('weight-decay', 0) },
        ...(values.clip === undefined ? {} : { clipGradNorm: num('clip', 1) }),
        accumulationSteps: accumulation,
        seed,
        checkpoint: { dir: join(out, 'checkpoints'), every: checkpointEvery },
        resume: values.resume === true,
        ...(evalBatches.length === 0 ? {} : { evaluate: { every: evalEvery, run: ({ adapter: a }) => ({ eval_loss: meanLoss(model, evalBatches, a) }) } }),
        onProgress: progressPrinter(io.err),
      });
      try {
        const hyper: JsonObject = { method, r, alpha: adapterConfig.alpha ?? null, steps, seed, data: dataFile };
        savePeftAdapter(join(out, 'adapter'), adapter.toPeftAdapter({ baseModel: modelId }));
        const written = [join(out, 'adapter')];
        if (method !== 'full') {
          saveNativeAdapter(join(out, 'adapter-native.safetensors'), adapter.toNativeAdapter({ baseModel: modelId, extra: hyper }));
          written.push(join(out, 'adapter-native.safetensors'));
        }
        const losses = {
          model: modelId,
          ...hyper,
          completed_steps: result.completedSteps,
          resumed_from_step: result.resumedFromStep,
          loss: result.lossHistory,
          eval: result.evalHistory,
          tsd: Object.fromEntries([...adapter.tsdSelections()].map(([m, info]) => [m, { dash: info.dashSelected ? [...info.dashSelected] : null, init: info.initSelected ? [...info.initSelected] : null }])),
        };
        writeFileAtomic(join(out, 'losses.json'), `${JSON.stringify(losses, null, 1)}\n`);
        written.push(join(out, 'losses.json'));
        const last = result.lossHistory[result.lossHistory.length - 1];
        io.out(`trained ${result.completedSteps} steps${result.resumedFromStep === null ? '' : ` (resumed from step ${result.resumedFromStep})`}; final loss ${last === undefined ? 'n/a' : last.toFixed(4)}`);
        for (const file of written) io.out(`wrote ${file}`);
      } finally {
        adapter.dispose();
      }
    } finally {
      model.dispose();
    }
  },
};
