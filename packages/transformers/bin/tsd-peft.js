#!/usr/bin/env node
// Committed (not built) so that npm links the bin at install time in a fresh clone, before dist/ exists.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('tsd-peft: this checkout is not built yet; run `npm run build` first');
  process.exit(1);
}
await import(cli.href);
