import { defineConfig } from 'tsup';
import { watPlugin } from '../../tooling/scripts/wat.mjs';

export default defineConfig({
  entry: ['src/index.ts', 'src/node/index.ts', 'src/testing/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The SIMD kernels' `.wat` sources, assembled by wabt into the bundle's bytes.
  esbuildPlugins: [watPlugin],
});
