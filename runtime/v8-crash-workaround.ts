// Node 20's V8 (11.3) now and then let a garbage collection in a guest's thread miss the guest
// runner's own stack frame: the frame kept the old addresses of objects the collector had moved
// (the WasmBpfHost among them), and the next property load on one of them died by SIGSEGV in V8,
// right after the guest's last line. Seen in one kernel event-path benchmark run in six, and in one
// VM run in four whenever the syscall addon had been loaded in the thread. It needs TurboFan's fast
// API calls (optimized code calling straight into Node's C++ fast paths; which one was not found,
// process.hrtime.bigint() was ruled out): with `--no-turbo-fast-api-calls`, no crash in 144 runs of
// both reproductions, against 58 crashes in 308 runs without (2026-11-25; `--no-concurrent-marking`
// did not help the VM case). The cost is a slightly slower call into those Node built-ins from
// optimized code.
//
// TurboFan reads the flag whenever it optimizes a function, so setting it before the guest's thread
// starts covers all the code of that thread.

import { setFlagsFromString } from 'node:v8';

let applied = false;

export function avoidFastApiCallCrash(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--no-turbo-fast-api-calls');
}
