import { TsdError } from '@tsd-peft/core';
import { version } from '../../package.json';
import { cliErrorMessage } from './cli-messages.js';
import type { Command, CommandIo } from './command.js';
import { exportCommand } from './export-command.js';
import { inspectCommand } from './inspect-command.js';
import { replayCommand } from './replay-command.js';
import { trainCommand } from './train-command.js';

const commands: Command[] = [trainCommand, exportCommand, inspectCommand, replayCommand];

const usage = () => `Usage: tsd-peft <command> [options]

Fine-tune Hugging Face causal LMs in TF.js with LoRA-family adapters (LoRA, rsLoRA,
PiSSA, MiLoRA, LoRA-Dash, LoRA-Init, LoRA-TSD) and ship them to transformers.js.

Commands:
${commands.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Run \`tsd-peft <command> --help\` for a command's options and examples.
Global options: --verbose prints stack traces of errors; --version prints the version.
Hub downloads honour HF_TOKEN, HF_HUB_OFFLINE=1 (cache and local folders only) and HF_ENDPOINT (a mirror).`;

/**
 * Runs the CLI and returns its exit status: 0 on success, 2 on a usage or
 * input error (one line on stderr; the stack only with --verbose), 1 on a bug.
 */
export async function main(argv: string[], io: CommandIo = defaultIo()): Promise<number> {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  const [name, ...rest] = args;
  if (name === '--version' || name === '-V') {
    io.out(`tsd-peft ${version}`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.err.write(`tsd-peft: unknown command "${name}" (expected one of: ${commands.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    const status = await command.run(rest, io);
    return typeof status === 'number' ? status : 0;
  } catch (error) {
    if (verbose && error instanceof Error) io.err.write(`${error.stack ?? error.message}\n`);
    if (error instanceof TsdError) {
      io.err.write(`tsd-peft ${name}: ${cliErrorMessage(error)}\n`);
      return 2;
    }
    if (!verbose) io.err.write(`tsd-peft ${name}: unexpected error: ${error instanceof Error ? error.message : String(error)} (rerun with --verbose)\n`);
    return 1;
  }
}

function defaultIo(): CommandIo {
  return { out: (line) => process.stdout.write(`${line}\n`), err: process.stderr };
}
