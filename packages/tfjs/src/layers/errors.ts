import { ConfigError, ShapeError, type ErrorLocation } from '@tsd-peft/core';

/** A layer chosen by `targetLayers` is not a `Dense` layer, so no adapter fits it. */
export class NotDenseLayerError extends ConfigError {
  constructor(message: string, location: ErrorLocation = {}) {
    super(message, location);
  }
}

/** The rank r (or LoRA-Dash's s) exceeds min(in, out) of a target layer's kernel. */
export class AdapterRankError extends ShapeError {
  constructor(message: string, location: ErrorLocation = {}) {
    super(message, location);
  }
}

/**
 * A method that launches after `t` optimizer steps (LoRA-Dash, LoRA-TSD) ran
 * a second training forward without the step callback having counted the
 * first: `fit` was called without `adapterCallback()` / the callback that
 * `applyAdapters` returns, or a custom loop skipped `stepAdapters(model)`.
 */
export class LaunchCallbackMissingError extends ConfigError {
  constructor(message: string, location: ErrorLocation = {}) {
    super(message, location);
  }
}
