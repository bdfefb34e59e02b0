// `@tsd-peft/tfjs/node`: what needs Node (folders, worker_threads). The main
// entry stays browser-safe; `train({ checkpoint: { dir } })` works there in Node.
// --- checkpoints in a folder ---
export { directoryCheckpointStore } from '../trainer/directory-store.js';
// --- wasm binaries of the installed @tensorflow/tfjs-backend-wasm ---
export { installedWasmFolder } from '../platform/node.js';
// --- data-parallel training over worker_threads ---
export { trainDataParallel } from '../parallel/data-parallel.js';
export type { DataParallelOptions, DataParallelResult } from '../parallel/data-parallel.js';
export { serveDataParallelWorker } from '../parallel/worker-runtime.js';
export type { ReplicaContext, ReplicaJob, ReplicaSetup } from '../parallel/worker-runtime.js';
