import { defineConfig } from 'tsup';

export default defineConfig({
  // train-worker: the worker module of `tsd-peft train --workers N`, found beside the CLI at run time
  entry: { index: 'src/index.ts', browser: 'src/browser.ts', internal: 'src/internal.ts', cli: 'src/cli.ts', 'train-worker': 'src/cli/train-worker.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
