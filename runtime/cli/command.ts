// A subcommand of the `wbpf` command line. Each lives in runtime/cli/commands/<name>.ts and is
// listed in runtime/cli/commands/index.ts; main.ts only dispatches.

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** True when stdout is a terminal (progress bars, colours). */
  isTty: boolean;
}

export interface CliCommand {
  name: string;
  /** One line for `wbpf --help`. */
  summary: string;
  /** Full usage text for `wbpf <name> --help`. */
  usage: string;
  /** Returns the process exit code. Throwing UsageError prints the message and usage, exit 2. */
  run(args: string[], io: CliIo): Promise<number>;
}

export class UsageError extends Error {}
