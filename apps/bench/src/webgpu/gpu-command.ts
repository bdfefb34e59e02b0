import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '@tsd-peft/core';
import { writeFileAtomic } from '@tsd-peft/core/node';
import { ADAPTER_METHODS, type AdapterMethod, type BackendName } from '@tsd-peft/tfjs';
import { GPU_PRESET, GPU_SMOKE_PRESET, type GpuPreset } from './gpu-preset.js';
import { gpuSetupLine, gpuThroughputLine, runGpuThroughput, type GpuThroughputResult } from './gpu-throughput.js';

/** Usage of `tsd-bench gpu`. */
export const GPU_HELP = `tsd-bench gpu: training throughput on a GPU through WebGPU (the 'gpu' preset)

  --backend NAME     webgpu (default), wasm or cpu
  --smoke            tiny model (seconds; runs on a software adapter such as llvmpipe)
  --steps N          timed steps (default ${GPU_PRESET.steps}); --warmup N untimed first steps (default ${GPU_PRESET.warmupSteps})
  --batch N --seq N  batch rows and sequence length (default ${GPU_PRESET.batch} × ${GPU_PRESET.seq})
  --method NAME      ${ADAPTER_METHODS.join(', ')} (default ${GPU_PRESET.method})
  --hardware-only    refuse a software WebGPU adapter
  --dawn-flag T      a Dawn instance toggle (repeatable), e.g.
                     enable-dawn-features=disable_robustness,skip_validation
  --out FILE         also write the result as JSON (atomically)

Model: a ~110M Llama (12 × 768, SwiGLU 2048, vocab 32000) with random weights.
Reports tokens/s, MFU against the adapter's measured fp32 matmul peak, and peak GPU memory.
`;

/** Output of the command. */
export interface GpuCommandIo {
  stdout: { write(text: string): unknown };
}

/**
 * `tsd-bench gpu [options]`: parses the flags, runs {@link runGpuThroughput}
 * and prints one line per step and a summary line. Returns the result (the
 * CLI's exit status is 0; bad flags throw {@link ConfigError}).
 */
export async function runGpuCommand(argv: readonly string[], io: GpuCommandIo): Promise<GpuThroughputResult | null> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      backend: { type: 'string' },
      smoke: { type: 'boolean' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      batch: { type: 'string' },
      seq: { type: 'string' },
      method: { type: 'string' },
      'hardware-only': { type: 'boolean' },
      'dawn-flag': { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      verbose: { type: 'boolean', short: 'v' },
    },
    strict: true,
  });
  if (values.help === true) {
    io.stdout.write(GPU_HELP);
    return null;
  }
  const base = values.smoke === true ? GPU_SMOKE_PRESET : GPU_PRESET;
  const int = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name} must be a positive integer, got "${raw}"`, { field: name });
    return n;
  };
  const method = (values.method ?? base.method) as AdapterMethod;
  if (!ADAPTER_METHODS.includes(method)) throw new ConfigError(`unknown --method "${method}" (one of ${ADAPTER_METHODS.join(', ')})`, { field: 'method' });
  const seq = int('seq', values.seq, base.seq);
  const preset: GpuPreset = {
    ...base,
    llama: { ...base.llama, max_position_embeddings: Math.max(base.llama.max_position_embeddings, seq) },
    steps: int('steps', values.steps, base.steps),
    warmupSteps: int('warmup', values.warmup, base.warmupSteps),
    batch: int('batch', values.batch, base.batch),
    seq,
    method,
  };
  const backend = (values.backend ?? 'webgpu') as BackendName;
  const result = await runGpuThroughput({
    preset,
    backend,
    allowSoftware: values['hardware-only'] !== true,
    dawnFlags: values['dawn-flag'] ?? [],
    log: (line) => io.stdout.write(`${line}\n`),
  });
  io.stdout.write(`${gpuSetupLine(result.setup)}\n${gpuThroughputLine(result)}\n`);
  if (values.out !== undefined) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileAtomic(values.out, `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}
