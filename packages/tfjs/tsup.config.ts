import { defineConfig } from 'tsup';

export default defineConfig({
  // The layers entry is a separate subpath so `@tensorflow/tfjs-layers` stays an optional peer.
  entry: { index: 'src/index.ts', 'layers/index': 'src/layers/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
