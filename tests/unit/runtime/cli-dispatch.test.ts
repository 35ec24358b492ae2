// The `wbpf` dispatcher loads only the command it runs (start-up time): each lazy entry must load
// the command of its name and summary, and help must still list every command.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../../runtime/cli/command.js';
import { commands } from '../../../runtime/cli/commands/index.js';
import { runCommand } from '../../../runtime/cli/commands/run.js';
import { dispatch } from '../../../runtime/cli/dispatch.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d));
  stderr.on('data', (d: Buffer) => (err += d));
  const cli: CliIo = { stdout, stderr, stdin: new PassThrough(), isTty: false };
  return { cli, out: () => out, err: () => err };
}

describe('dispatch', () => {
  it('the run command it loads alone is the registered one', async () => {
    expect(await commands.find((c) => c.name === 'run')!.load()).toBe(runCommand);
  });

  it('every entry loads the command of its name and summary', async () => {
    for (const entry of commands) {
      const command = await entry.load();
      expect({ name: command.name, summary: command.summary }).toEqual({ name: entry.name, summary: entry.summary });
    }
  });

  it('runs `run` (its help) and lists every command in help', async () => {
    const run = io();
    expect(await dispatch(['run', '--help'], run.cli)).toBe(0);
    expect(run.out()).toBe(`${runCommand.usage}\n`);
    const help = io();
    expect(await dispatch(['--help'], help.cli)).toBe(0);
    for (const c of commands) expect(help.out()).toContain(`  ${c.name}`);
  });

  it('answers an unknown command with the list, exit 2', async () => {
    const r = io();
    expect(await dispatch(['frobnicate'], r.cli)).toBe(2);
    expect(r.err()).toContain('unknown command "frobnicate"');
    expect(r.err()).toContain('  run ');
  });
});
