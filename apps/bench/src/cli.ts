#!/usr/bin/env node
import { main } from './main.js';

// Ctrl-C stops after the current step with a checkpoint written; a second Ctrl-C quits at once.
const controller = new AbortController();
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: finishing the current step and writing a checkpoint (Ctrl-C again to quit now)\n');
  controller.abort();
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // Loaded lazily so `--help` and argument errors never pay for TF.js and the model stack.
  openBackend: async (options, log) => (await import('./training/tfjs-bench-backend.js')).openTfjsBackend(options, log),
  signal: controller.signal,
});
