/**
 * Error hierarchy shared by every tsd-peft package. Callers branch on the
 * class (or on `code`); messages always name the offending file, tensor,
 * shape or field so that a user can act without a debugger.
 */

/** Machine-readable error codes, one per subclass. */
export type TsdErrorCode = 'TSD_ERROR' | 'SAFETENSORS' | 'ONNX' | 'SHAPE' | 'CONFIG' | 'FIXTURE_MISSING' | 'NON_FINITE' | 'FOLDER_LOCKED' | 'HUB';

/**
 * Where an error points: any of a file path, a tensor name, a model layer
 * (a TF.js LayersModel layer: printed as "layer dense_1", since a layer is
 * neither a tensor nor a config field), a config field or option name (`r`,
 * `optimizer.betas`: printed as "field r", never as a tensor) and a shape.
 */
export interface ErrorLocation {
  file?: string;
  tensor?: string;
  layer?: string;
  field?: string;
  shape?: readonly number[];
}

/** Base class of every error thrown on purpose by tsd-peft. */
export class TsdError extends Error {
  readonly code: TsdErrorCode;
  readonly file?: string;
  readonly tensor?: string;
  readonly layer?: string;
  readonly field?: string;
  readonly shape?: readonly number[];

  constructor(message: string, location: ErrorLocation = {}, code: TsdErrorCode = 'TSD_ERROR', options?: { cause?: unknown }) {
    super(formatMessage(message, location), options);
    this.name = new.target.name;
    this.code = code;
    if (location.file !== undefined) this.file = location.file;
    if (location.tensor !== undefined) this.tensor = location.tensor;
    if (location.layer !== undefined) this.layer = location.layer;
    if (location.field !== undefined) this.field = location.field;
    if (location.shape !== undefined) this.shape = location.shape;
  }
}

function formatMessage(message: string, { file, tensor, layer, field, shape }: ErrorLocation): string {
  const where: string[] = [];
  if (file !== undefined) where.push(`file ${file}`);
  if (tensor !== undefined) where.push(`tensor ${tensor}`);
  if (layer !== undefined) where.push(`layer ${layer}`);
  if (field !== undefined) where.push(`field ${field}`);
  if (shape !== undefined) where.push(`shape [${shape.join(', ')}]`);
  return where.length === 0 ? message : `${message} (${where.join(', ')})`;
}

/** A safetensors file or buffer is malformed or holds something we cannot read. */
export class SafetensorsError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'SAFETENSORS', options);
  }
}

/** An ONNX model is malformed, quantized where fp32 is needed, or lacks an expected node. */
export class OnnxError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'ONNX', options);
  }
}

/** Tensor shapes disagree, or a rank / direction count is out of range. */
export class ShapeError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'SHAPE', options);
  }
}

/** A configuration (adapter_config.json, config.json, CLI options) is invalid. */
export class ConfigError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'CONFIG', options);
  }
}

/** A NaN or Infinity appeared in a tensor, a loss or a gradient. */
export class NonFiniteError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'NON_FINITE', options);
  }
}

/** Another live process holds the lock on an output folder (see `acquireFolderLock`). */
export class FolderLockedError extends TsdError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'FOLDER_LOCKED', options);
  }
}

/** Why a Hugging Face hub file could not be had. */
export type HubFailure = 'offline' | 'unreachable' | 'http';

/**
 * A hub file could not be had: downloads are off and it is not cached
 * (`offline`), the hub could not be reached (`unreachable`), or it answered
 * with an HTTP error (`http`, with `status`). Front ends branch on `failure`
 * to say what their users can do.
 */
export class HubError extends TsdError {
  readonly repoId: string;
  readonly failure: HubFailure;
  readonly status?: number;

  constructor(message: string, details: { repoId: string; failure: HubFailure; status?: number }, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, 'HUB', options);
    this.repoId = details.repoId;
    this.failure = details.failure;
    if (details.status !== undefined) this.status = details.status;
  }
}
