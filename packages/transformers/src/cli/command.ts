import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '@tsd-peft/core';

/** One `tsd-peft` sub-command. */
export interface Command {
  name: string;
  summary: string;
  /** Full `--help` text, with examples. */
  help: string;
  /** Resolves to the exit status (void means 0); errors are mapped by `main`. */
  // biome-ignore lint/suspicious/noConfusingVoidType: commands that always exit 0 return nothing; `undefined` would not accept their Promise<void>
  run(argv: string[], io: CommandIo): Promise<void | number>;
}

/** Where a command writes: results to `out`, progress and notes to `err`. */
export interface CommandIo {
  out: (line: string) => void;
  err: NodeJS.WriteStream;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed options (strings or booleans, as declared) and positionals. */
export interface ParsedCommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * `node:util` parseArgs with errors turned into {@link ConfigError}, so the
 * CLI reports them as one line with exit status 2.
 */
export function parseCommandArgs(command: string, argv: string[], options: Options, allowPositionals = false): ParsedCommandArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as ParsedCommandArgs['values'], positionals };
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(`${message} (see \`tsd-peft ${command} --help\`)`, {}, { cause });
  }
}

/** A required string option, or a ConfigError naming it. */
export function required(command: string, values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new ConfigError(`missing --${name} (see \`tsd-peft ${command} --help\`)`);
  return value;
}

/** Parses a numeric option, or a ConfigError naming it and the bad text. */
export function numberOption(command: string, values: Record<string, unknown>, name: string, fallback: number, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got "${String(raw)}" (see \`tsd-peft ${command} --help\`)`);
  }
  return value;
}
