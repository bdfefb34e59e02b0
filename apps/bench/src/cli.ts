#!/usr/bin/env node
import { openDefaultBackend } from './default-backend.js';
import { applyHubEnvironment } from '@tsd-peft/transformers';
import { main } from './main.js';

applyHubEnvironment();
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
  openBackend: openDefaultBackend,
  signal: controller.signal,
});
