import { defineConfig } from 'tsup';
import { watPlugin } from '../../tooling/scripts/wat.mjs';

export default defineConfig({
  // The layers entry is a separate subpath so `@tensorflow/tfjs-layers` stays an optional peer.
  // node/index holds what needs Node; the two platform files are the branches of the
  // `#platform` import (package.json "imports"), chosen by the consumer's resolver.
  entry: {
    index: 'src/index.ts',
    'layers/index': 'src/layers/index.ts',
    'node/index': 'src/node/index.ts',
    'platform/node': 'src/platform/node.ts',
    'platform/browser': 'src/platform/browser.ts',
  },
  external: ['#platform'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The SIMD kernels' `.wat` sources, assembled by wabt into the bundle's bytes.
  esbuildPlugins: [watPlugin],
});
