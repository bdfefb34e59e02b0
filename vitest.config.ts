import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { watVitePlugin } from './tooling/scripts/wat.mjs';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  // The SIMD kernels' `.wat` sources, assembled as tsup assembles them into dist/.
  plugins: [watVitePlugin()],
  resolve: {
    // Tests run against sources, so a stale dist/ never hides a change.
    alias: [
      { find: /^@tsd-peft\/core\/node$/, replacement: src('./packages/core/src/node/index.ts') },
      { find: /^@tsd-peft\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@tsd-peft\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@tsd-peft\/tfjs\/layers$/, replacement: src('./packages/tfjs/src/layers/index.ts') },
      { find: /^@tsd-peft\/tfjs\/node$/, replacement: src('./packages/tfjs/src/node/index.ts') },
      // tfjs's `#platform` import (package.json "imports"): the Node branch, from sources.
      { find: /^#platform$/, replacement: src('./packages/tfjs/src/platform/node.ts') },
      { find: /^@tsd-peft\/tfjs$/, replacement: src('./packages/tfjs/src/index.ts') },
      { find: /^@tsd-peft\/transformers\/browser$/, replacement: src('./packages/transformers/src/browser.ts') },
      { find: /^@tsd-peft\/transformers\/internal$/, replacement: src('./packages/transformers/src/internal.ts') },
      { find: /^@tsd-peft\/transformers$/, replacement: src('./packages/transformers/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.tmp/vitest-results.json' },
  },
});
