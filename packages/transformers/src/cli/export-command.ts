import { withFolderLock } from '@tsd-peft/core/node';
import { exportForTransformersJs } from '../export-transformers-js.js';
import { numberOption, parseCommandArgs, required, type Command } from './command.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'merge an adapter into a transformers.js ONNX model folder',
  help: `Usage: tsd-peft export --base <onnx-model-dir> --adapter <peft-adapter-dir> --out <dir> [options]

Copies a transformers.js model folder (config, tokenizer, onnx/model.onnx) and adds
scaling·B·A (+ the LoRA-Dash term) to the weights of every adapted MatMul. The result
loads with pipeline('text-generation', out, { dtype: 'fp32' }). The base is never modified.

Options:
  --base <dir>       transformers.js model folder (holds onnx/model.onnx)
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
      exportForTransformersJs({ base, adapter, out, overwrite: values.overwrite === true, ...(scaling === undefined ? {} : { scaling }) }),
    );
    for (const [file, modules] of Object.entries(result.patched)) {
      const maxChange = Math.max(...modules.map((m) => m.maxAbsChange));
      io.out(`onnx/${file}: merged ${modules.length} modules (max |ΔW| ${maxChange.toPrecision(3)})`);
    }
    io.out(`wrote ${result.out}`);
  },
};
