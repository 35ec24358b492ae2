// Running the `wbpf` command from the registry tests: in this process through dispatch (fast,
// output captured), or as the compiled CLI in a process of its own (as users run it).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../runtime/cli/command.js';
import { dispatch } from '../../runtime/cli/dispatch.js';

/** `wbpf args` in this process; stdin is the given text, stdout a terminal only when asked. */
export async function wbpf(args: string[], stdin = '', isTty = false): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const input = new PassThrough();
  input.end(stdin);
  const io: CliIo = { stdout, stderr, stdin: input, isTty };
  const code = await dispatch(args, io);
  return { code, out, err };
}

export const builtCli = path.resolve(import.meta.dirname, '../../dist/runtime/cli/main.js');
/** Why the compiled CLI cannot run, or ''. */
export const builtCliMissing = existsSync(builtCli) ? '' : 'runtime not built: run `npm run build` (dist/runtime/cli/main.js is missing)';

/** `wbpf args` as the compiled CLI in a process of its own, with `env` added to this one's. */
export function wbpfProcess(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [builtCli, ...args], { env: { ...process.env, ...env } }, (error, _stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, err: stderr });
    });
  });
}
