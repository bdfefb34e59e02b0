/**
 * The browser branch of the `#platform` import (package.json `imports`,
 * `browser` condition): the same functions as ./node.ts without any Node
 * module. What needs a file system throws a {@link ConfigError} that says
 * what to use instead.
 */
import { ConfigError } from '@tsd-peft/core';
import type { CheckpointStore, DirectoryStoreOptions } from '../trainer/checkpoint-store.js';

/** Browsers have no folders to write: a typed error pointing to `checkpoint.store`. */
export function directoryCheckpointStore(dir: string, _options: DirectoryStoreOptions = {}): CheckpointStore {
  throw new ConfigError(`checkpoint.dir ('${dir}') needs a file system (Node); in a browser pass checkpoint.store, a CheckpointStore over OPFS or IndexedDB`, { file: dir });
}

/** Browsers load the wasm binaries by URL: a typed error pointing to `wasmPaths`. */
export function installedWasmFolder(): Promise<string> {
  return Promise.reject(new ConfigError('installedWasmFolder needs Node; in a browser pass setupBackend(name, { wasmPaths })'));
}

/** Browsers show no device nodes; `navigator.gpu` decides instead. */
export function hasGpuDeviceNode(): boolean {
  return true;
}

/** Bundlers already resolved the modules that Node's hooks would fix: nothing to do. */
export function registerModuleHooks(_source: string, _what: string): void {}
