import { withFolderLock } from '@tsd-peft/core/node';
import { exportForTransformersJs } from '../export-transformers-js.js';
import { numberOption, parseCommandArgs, required, type Command } from './command.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'merge an adapter into a transformers.js ONNX model folder',
  help: `Usage: tsd-peft export --base <onnx-model-dir> --adapter <peft-adapter-dir> --out <dir> [options]

Copies a transformers.js model folder (config, tokenizer, onnx/*.onnx) and adds
scaling·B·A (+ the LoRA-Dash term) to every adapted MatMul/Gemm of every dtype variant
(fp32, fp16, q8, q4: quantized weights get a float side branch). The result loads with
pipeline('text-generation', out, { dtype }). The base is never modified.

Options:
  --base <dir|id>    transformers.js model folder (holds onnx/model.onnx), or a hub id
                     (fetched into transformers.js's cache, env.remoteHost, HF_TOKEN)
  --adapter <dir>    PEFT adapter folder (adapter_config.json + adapter_model.safetensors)
  --out <dir>        folder to create
  --scaling <x>      replace each module's scaling (default: the adapter's alpha/r)
  --overwrite        replace an existing --out folder

Example:
  tsd-peft export --base ./stories260K-onnx --adapter ./runs/dash/adapter --out ./stories260K-dash`,
  async run(argv, io) {
    const { values } = parseCommandArgs('export', argv, {
      base: { type: 'string' },
      adapter: { type: 'string' },
      out: { type: 'string' },
      scaling: { type: 'string' },
      overwrite: { type: 'boolean', default: false },
    });
    const scaling = values.scaling === undefined ? undefined : numberOption('export', values, 'scaling', 1);
    const base = required('export', values, 'base');
    const adapter = required('export', values, 'adapter');
    const out = required('export', values, 'out');
    const result = await withFolderLock(out, 'tsd-peft export', () =>
      exportForTransformersJs({
        base,
        adapter,
        out,
        overwrite: values.overwrite === true,
        progress: (line) => io.err.write(`${line}\n`),
        ...(scaling === undefined ? {} : { scaling }),
      }),
    );
    for (const [file, modules] of Object.entries(result.patched)) {
      const maxChange = Math.max(...modules.map((m) => m.maxAbsChange));
      const side = modules.filter((m) => m.merge === 'side-branch').length;
      io.out(`onnx/${file}: merged ${modules.length} modules (max |ΔW| ${maxChange.toPrecision(3)})${side > 0 ? `, ${side} as float side branches beside quantized weights` : ''}`);
    }
    io.out(`wrote ${result.out}`);
  },
};
