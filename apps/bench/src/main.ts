import { TsdError } from '@tsd-peft/core';
import { withFolderLock } from '@tsd-peft/core/node';
import { cliErrorMessage } from '@tsd-peft/transformers';
import { version } from '../package.json';
import { parseBenchArgs, type BenchOptions } from './args.js';
import type { BenchBackend } from './bench-backend.js';
import { helpText } from './help.js';
import { ProgressDisplay, type ProgressSink } from './progress.js';
import { runBench } from './runner.js';
import { runGpuCommand } from './webgpu/gpu-command.js';
import type { DatasetResolver } from './tasks/types.js';

/** Where the CLI writes, and how it opens the training backend (injectable for tests). */
export interface CliIO {
  stdout: ProgressSink;
  stderr: { write(text: string): unknown };
  openBackend: (options: BenchOptions, log: (line: string) => void) => Promise<BenchBackend>;
  signal?: AbortSignal;
  resolveDataset?: DatasetResolver;
}

/** Exit statuses of `tsd-bench`. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * `tsd-bench` without the process: parses `argv`, runs the bench and returns
 * the exit status. Bad arguments and configuration errors (any
 * {@link TsdError}: unknown method or task, missing model, empty data file,
 * offline download) print one line on stderr and return 2; stack traces only
 * with --verbose.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    if (argv[0] === '--version' || argv[0] === '-V') {
      io.stdout.write(`tsd-bench ${version}\n`);
      return EXIT.ok;
    }
    if (argv[0] === 'gpu') {
      await runGpuCommand(argv.slice(1), io); // webgpu area: `tsd-bench gpu`
      return EXIT.ok;
    }
    const parsed = parseBenchArgs(argv);
    if (parsed.help) {
      io.stdout.write(helpText());
      return EXIT.ok;
    }
    const progress = new ProgressDisplay(io.stdout);
    const summary = await withFolderLock(parsed.options.out, 'tsd-bench', () =>
      runBench({
        options: parsed.options,
        openBackend: io.openBackend,
        progress,
        ...(io.signal === undefined ? {} : { signal: io.signal }),
        ...(io.resolveDataset === undefined ? {} : { resolveDataset: io.resolveDataset }),
      }),
    );
    io.stdout.write(`${summary.completed} run(s) done, ${summary.failed} failed, ${summary.skipped} already recorded; results in ${summary.outDir}/{results.json,results.md,report.html}\n`);
    return summary.interrupted ? EXIT.interrupted : EXIT.ok;
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    io.stderr.write(`tsd-bench: error: ${cliErrorMessage(err).split('\n')[0] ?? ''}\n`);
    if (verbose && err.stack !== undefined) io.stderr.write(`${err.stack}\n`);
    return err instanceof TsdError ? EXIT.usage : EXIT.failure;
  }
}
