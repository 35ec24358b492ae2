// The `wbpf` command's body; main.ts starts it from the bundle or from tsc's output.

import type { CliIo } from './command.js';
import { dispatch } from './dispatch.js';

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Lazy: creating process.stdin puts fd 0 in non-blocking mode, which would break a guest's reads.
  get stdin() {
    return process.stdin;
  },
  isTty: process.stdout.isTTY === true,
};
const code = await dispatch(process.argv.slice(2), io);
// Exit at once: a guest thread blocked in a native call must not keep the process alive.
process.exit(code);
