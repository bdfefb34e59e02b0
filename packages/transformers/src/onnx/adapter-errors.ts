/**
 * Typed errors for an adapter that does not fit the graph it is loaded into.
 * Callers branch on the class; each message names the module, the shapes and
 * what to do. Codes stay those of the base classes (SHAPE, CONFIG).
 */
import { ConfigError, ShapeError, type ErrorLocation } from '@tsd-peft/core';

/**
 * A module the adapter targets exists in the graph, but with other
 * dimensions: the adapter was trained for another base model.
 */
export class BaseModelMismatchError extends ShapeError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, options);
  }
}

/** The adapter targets a module that the graph does not have (no linear node in that scope). */
export class TargetModuleMissingError extends ConfigError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, options);
  }
}

/** A module's rank disagrees with the adapter config's `r` / `rank_pattern`. */
export class RankPatternError extends ShapeError {
  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, location, options);
  }
}
