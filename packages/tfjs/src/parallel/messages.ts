import { ConfigError, NonFiniteError, OnnxError, SafetensorsError, ShapeError, TsdError } from '@tsd-peft/core';
import type { ProgressEvent } from '../trainer/progress.js';
import type { TrainResult } from '../trainer/train.js';
import type { SharedMemoryLayout } from './shared-memory.js';

/** Marks `workerData` written by `trainDataParallel`, so a stray worker fails loudly. */
export const WORKER_DATA_TAG = 'tsd-peft/data-parallel@1';

/** What the coordinator hands every worker. */
export interface ReplicaWorkerData {
  tag: typeof WORKER_DATA_TAG;
  rank: number;
  memory: SharedMemoryLayout;
  /** The caller's `workerData`, structured-cloned. */
  user: unknown;
  /** Check that replicas hold identical variables every this many steps (0: only at the end). */
  verifyEvery: number;
}

/** An error as plain data (structured clone keeps neither class nor fields of TsdError). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  file?: string;
  tensor?: string;
  field?: string;
  shape?: number[];
}

/** Messages from a worker to the coordinator. */
export type ReplicaMessage =
  | { kind: 'progress'; event: ProgressEvent }
  | { kind: 'done'; rank: number; result: TrainResult; output: unknown; exchangeSeconds: number; exchangeWaitSeconds: number }
  | { kind: 'failed'; rank: number; error: SerializedError };

/** Flattens an error for `postMessage`, keeping TsdError's code and location. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const out: SerializedError = { name: error.name, message: error.message };
  if (error.stack !== undefined) out.stack = error.stack;
  if (error instanceof TsdError) {
    out.code = error.code;
    if (error.file !== undefined) out.file = error.file;
    if (error.tensor !== undefined) out.tensor = error.tensor;
    if (error.field !== undefined) out.field = error.field;
    if (error.shape !== undefined) out.shape = [...error.shape];
  }
  return out;
}

const CLASSES: Record<string, new (message: string) => TsdError> = {
  SAFETENSORS: SafetensorsError,
  ONNX: OnnxError,
  SHAPE: ShapeError,
  CONFIG: ConfigError,
  NON_FINITE: NonFiniteError,
};

/**
 * Rebuilds a worker's error on the coordinator's side: the same TsdError
 * subclass (so callers can still branch on the class or `code`) with the
 * original, already located message, prefixed by the worker's rank.
 */
export function deserializeError(e: SerializedError, rank: number): Error {
  const message = `worker ${rank}: ${e.message}`;
  let error: Error;
  if (e.code === undefined) {
    error = new Error(message);
  } else {
    const Cls = CLASSES[e.code];
    error = Cls === undefined ? new TsdError(message) : new Cls(message);
    // Codes without a class here (FIXTURE_MISSING, HUB, …) still arrive with their code.
    const fields: Record<string, unknown> = { code: e.code, file: e.file, tensor: e.tensor, field: e.field, shape: e.shape };
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) Object.defineProperty(error, key, { value, enumerable: true });
    }
  }
  if (e.stack !== undefined) error.stack = `${message}\n--- in worker ${rank} ---\n${e.stack}`;
  return error;
}
