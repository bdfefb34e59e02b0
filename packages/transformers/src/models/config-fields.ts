import { ConfigError } from '@tsd-peft/core';

/** A parsed `config.json` (or an equivalent object) before validation. */
export type RawConfig = Readonly<Record<string, unknown>>;

/**
 * Typed reads of `config.json` fields. Every failure is a ConfigError naming
 * the field and the file, so a user can fix the file without a debugger.
 */
export class ConfigFields {
  constructor(
    readonly raw: RawConfig,
    readonly file: string,
  ) {}

  /** A required positive integer. */
  positiveInt(field: string): number {
    const value = this.raw[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw this.invalid(field, value, 'a positive integer');
    }
    return value;
  }

  /** An optional positive integer (`undefined` and `null` give `fallback`). */
  optionalPositiveInt(field: string, fallback: number): number;
  optionalPositiveInt(field: string, fallback: null): number | null;
  optionalPositiveInt(field: string, fallback: number | null): number | null {
    const value = this.raw[field];
    if (value === undefined || value === null) return fallback;
    return this.positiveInt(field);
  }

  /** An optional positive finite number. */
  optionalPositiveNumber(field: string, fallback: number): number {
    const value = this.raw[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw this.invalid(field, value, 'a positive number');
    }
    return value;
  }

  /** An optional boolean. */
  optionalBoolean(field: string, fallback: boolean): boolean {
    const value = this.raw[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw this.invalid(field, value, 'a boolean');
    return value;
  }

  /** An optional string. */
  optionalString(field: string, fallback: string): string {
    const value = this.raw[field];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') throw this.invalid(field, value, 'a string');
    return value;
  }

  /** A token id field: an integer, a list of integers (HF allows several EOS ids), or absent. */
  tokenIds(field: string): number[] {
    const value = this.raw[field];
    if (value === undefined || value === null) return [];
    const list = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
        throw this.invalid(field, value, 'a token id or a list of token ids');
      }
    }
    return list as number[];
  }

  /** The error for a field that holds the wrong kind of value. */
  invalid(field: string, value: unknown, expected: string): ConfigError {
    return new ConfigError(`config field "${field}" must be ${expected}, got ${JSON.stringify(value)}`, {
      file: this.file,
    });
  }
}
