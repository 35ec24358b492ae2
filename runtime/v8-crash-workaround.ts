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
// When to set it. TurboFan reads the flag whenever it optimizes a function, and V8 picks how a Wasm
// module calls each import when it is instantiated; so the guest's thread sets it right before it
// instantiates the guest, after its own start-up, when next to nothing has been optimized yet and
// the guest's imports are still to be linked. Not earlier: V8 flags are part of the hash that
// Node's built-in code cache is checked against, so once the flag is set every Node internal
// module a thread loads afterwards is compiled from source. Set before the thread started, it
// cost the thread's start-up about 40 ms (a third of `wbpf run`'s cold start).

import { setFlagsFromString } from 'node:v8';

let applied = false;

export function avoidFastApiCallCrash(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--no-turbo-fast-api-calls');
}
