/**
 * The Node branch of the `#platform` import (package.json `imports`: the
 * `browser` condition picks ./browser.ts instead). It holds the few Node
 * calls that universal code needs, so that browser bundles of the package
 * never see `node:*` modules. Both branches export the same functions
 * (checked in platform.test.ts).
 */
import { readdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, sep } from 'node:path';
import { TsdError } from '@tsd-peft/core';

export { directoryCheckpointStore } from '../trainer/directory-store.js';

/**
 * The `dist/` folder of the installed `@tensorflow/tfjs-backend-wasm`, which
 * holds `tfjs-backend-wasm{,-simd,-threaded-simd}.wasm`, as a path prefix
 * ending in the separator (emscripten reads it with `fs` in Node).
 */
export async function installedWasmFolder(): Promise<string> {
  const require = nodeModule.createRequire(import.meta.url);
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + sep;
}

/** True when Linux shows a GPU device node (`/dev/dri/renderD*`, `/dev/nvidia*`). */
export function hasGpuDeviceNode(): boolean {
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  return list('/dev/dri').some((f) => f.startsWith('renderD')) || list('/dev').some((f) => /^nvidia\d+$/.test(f));
}

/** Registers module-resolution hooks (`module.register`) given as ES module source; `what` names what needs them. */
export function registerModuleHooks(source: string, what: string): void {
  // A namespace import: a named `register` import would fail to link on Node < 20.6.
  if (typeof nodeModule.register !== 'function') {
    throw new TsdError(`Node ${process.versions.node} lacks module.register; use Node ≥ 20.6 or a bundler to load ${what}`);
  }
  nodeModule.register(`data:text/javascript,${encodeURIComponent(source)}`);
}
