import { ConfigError } from '@tsd-peft/core';

/**
 * A record of a `--data`/`--eval` JSONL file the bench cannot use: the
 * message and the fields name the file and the 1-based line.
 */
export class CustomDataError extends ConfigError {
  readonly line: number;

  constructor(message: string, file: string, line: number) {
    super(`line ${line}: ${message}`, { file });
    this.line = line;
  }
}
