// Dispatch of `wbpf <command> ...` to runtime/cli/commands/*: help, version, usage errors.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliCommand, type CliIo, UsageError } from './command.js';
import { commands } from './commands/index.js';

/**
 * Loads only the named command's module. `run` is measured by its time to a running guest: the
 * guest's thread starts as soon as its small module is in, so that its start-up runs alongside
 * the loading of run's modules; other commands never load worker_threads.
 */
async function findCommand(name: string): Promise<CliCommand | undefined> {
  const entry = commands.find((c) => c.name === name);
  if (!entry) return undefined;
  if (name !== 'run') return entry.load();
  const [, command] = await Promise.all([import('../guest-thread.js').then((g) => g.prestartGuestThread()), entry.load()]);
  return command;
}

export function wbpfVersion(): string {
  // Works from runtime/cli (sources) and dist/runtime/cli (compiled): walk up to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wbpf') return pkg.version ?? 'unknown';
    } catch {
      // not here; keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

function help(): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: wbpf <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'wbpf <command> --help shows the options of a command; wbpf --version prints the version.',
  ].join('\n');
}

export async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(help() + '\n');
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`wbpf ${wbpfVersion()}\n`);
    return 0;
  }
  const command = await findCommand(name);
  if (!command) {
    io.stderr.write(`wbpf: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`wbpf ${command.name}: ${error.message}\n\n${command.usage}\n`);
      return 2;
    }
    io.stderr.write(`wbpf ${command.name}: ${(error as Error)?.message ?? String(error)}\n`);
    if (process.env.WBPF_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
