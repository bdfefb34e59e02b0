import type { BenchOptions } from './args.js';
import type { BenchBackend } from './bench-backend.js';

/**
 * The real training backend (@tsd-peft/transformers + @tsd-peft/tfjs), loaded
 * on first use so that `--help`, argument errors and the report API never pay
 * for TF.js and the model stack.
 */
export async function openDefaultBackend(options: BenchOptions, log: (line: string) => void): Promise<BenchBackend> {
  const { openTfjsBackend } = await import('./training/tfjs-bench-backend.js');
  return openTfjsBackend(options, log);
}
