import { main } from './main.js';

/** What one in-process CLI run printed, and its exit status. */
export interface CliRun {
  status: number;
  out: string;
  err: string;
}

/** Runs `tsd-peft <argv>` in-process through `main(argv, io)` and captures stdout lines and stderr (not a TTY). */
export async function runCli(argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  let err = '';
  const status = await main(argv, {
    out: (line) => out.push(line),
    err: {
      write: (chunk: string) => {
        err += chunk;
        return true;
      },
    } as unknown as NodeJS.WriteStream,
  });
  return { status, out: out.join('\n'), err };
}
