// Entry of the thread a guest runs in. It opens the backend, instantiates the guest with WASI
// and the wasm-bpf ABI, runs _start, releases what the guest created in the kernel whatever
// happened, and posts the outcome. Output and diagnostics are written synchronously to the fds
// from this thread, so nothing is left in a buffer when the process is stopped.

import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { Backend } from '../host-bindings/backend.js';
import { GuestMemory } from '../host-bindings/abi/guest-memory.js';
import { GuestStopped } from '../host-bindings/abi/stopped.js';
import { WasmBpfHost } from '../host-bindings/abi/wasm-bpf.js';
import { type OpenBackendOptions, openBackend } from './backends.js';
import { SharedFdTable } from './fd-table.js';
import { StopFlag } from './stop-flag.js';
import { trapReport } from './trap.js';
import { avoidFastApiCallCrash } from './v8-crash-workaround.js';
import { WASI_MODULE, loadWasi, wasiImports } from './wasi.js';
import { type Inbox, openInbox } from './worker-inbox.js';
import type { WorkerInput, WorkerKernelBtf, WorkerOutcome } from './worker-protocol.js';

// Deep guest stacks are worth showing whole in a trap report.
Error.stackTraceLimit = 200;

type Log = (line: string) => void;

function logTo(fd: number): Log {
  return (line) => {
    try {
      writeSync(fd, line.endsWith('\n') ? line : line + '\n');
    } catch {
      // A closed stderr must not turn into a guest failure.
    }
  };
}

async function run(input: WorkerInput, inbox: Inbox): Promise<WorkerOutcome> {
  const log = logTo(input.diagnosticsFd);
  const stop = new StopFlag(input.stopBuffer);
  const { WASI } = await loadWasi();
  const wasi = new WASI({
    version: 'preview1',
    args: input.args,
    env: input.env,
    preopens: input.preopens,
    stdin: input.stdio[0],
    stdout: input.stdio[1],
    stderr: input.stdio[2],
    returnOnExit: true,
  });
  let backend: Backend | null = null;
  if (input.backend) {
    try {
      const options: OpenBackendOptions = { shouldStop: () => stop.requested, log, fds: new SharedFdTable(input.fdBuffer) };
      if (input.capture) options.capture = await captureFor(input.capture, log);
      if (input.vmMemoryBytes !== undefined) options.memoryBytes = input.vmMemoryBytes;
      // The kernel's BTF comes while the backend opens (see runner.ts), and before the guest runs.
      const kernelBtf = input.backend === 'kernel' ? inbox.next<WorkerKernelBtf>() : undefined;
      backend = await openBackend(input.backend, options);
      const parts = (await kernelBtf)?.kernelBtf;
      if (parts) (await import('../host-bindings/kernel/vmlinux.js')).useVmlinuxBtf(parts);
    } catch (error) {
      return { kind: 'failed', message: `open the ${input.backend} backend: ${(error as Error).message}` };
    }
    if (input.capabilities) {
      const { guardBackend } = await import('./capabilities.js');
      backend = guardBackend(backend, input.capabilities);
    }
  }
  let memory: GuestMemory | null = null;
  const host = backend
    ? new WasmBpfHost({
      backend, log, verbose: input.verbose, stopRequested: () => stop.requested,
      ...(input.kernelUnavailable
        ? { unsupportedAttachHint: `the built-in VM runs this guest because the ${input.kernelUnavailable.replace(/^kernel backend unavailable: /, 'kernel backend is unavailable: ')}; the kernel backend (as root) attaches such programs` }
        : {}),
    })
    : null;
  const imports: WebAssembly.Imports = {
    [WASI_MODULE]: wasiImports({
      wasi,
      stop,
      memory: () => memory,
      preopens: input.preopens,
      ...(input.verbose ? { trace: log } : {}),
      ...(backend?.idle ? { idle: idleFor(backend, log) } : {}),
    }),
    ...host?.imports(),
  };
  try {
    avoidFastApiCallCrash();
    const instance = await WebAssembly.instantiate(input.module, imports);
    memory = new GuestMemory(instance.exports.memory as WebAssembly.Memory);
    host?.bind(instance);
    // A thread's performance clock starts with the process: this is the start-up time so far.
    if (input.verbose) log(`wbpf: guest starting, ${performance.now().toFixed(1)} ms after the process started`);
    const code = wasi.start(instance);
    return { kind: 'exited', code: code & 0xff };
  } catch (error) {
    if (error instanceof GuestStopped) return { kind: 'stopped' };
    const trap = trapReport(error);
    if (trap) return { kind: 'trapped', trap };
    if (error instanceof WebAssembly.LinkError) return { kind: 'failed', message: `link the guest: ${error.message}` };
    const detail = input.verbose && error instanceof Error ? `\n${error.stack}` : '';
    return { kind: 'failed', message: `${(error as Error)?.message ?? String(error)}${detail}` };
  } finally {
    const releasing = performance.now();
    try {
      host?.close();
      backend?.close();
    } catch (error) {
      log(`wbpf: release the guest's eBPF objects: ${(error as Error).message}`);
    }
    // Detaching a tracepoint waits for RCU grace periods in the kernel: tens of ms per attachment.
    if (input.verbose && backend) log(`wbpf: released the guest's eBPF objects in ${(performance.now() - releasing).toFixed(1)} ms`);
  }
}

/**
 * The backend's turn while the guest sleeps. What fails there (a timer program's fault) is the
 * backend's problem, not the guest's: it is reported, and the guest sleeps on.
 */
function idleFor(backend: Backend, log: Log): (untilMs: number) => void {
  let reported = '';
  return (untilMs) => {
    try {
      backend.idle!(untilMs);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== reported) log(`wbpf: ${message}`);
      reported = message;
    }
  };
}

/** The capture of `--pcap`, read and checked now so that a bad file fails before the guest starts. */
async function captureFor(capture: { input: string; output?: string }, log: Log): Promise<NonNullable<OpenBackendOptions['capture']>> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(capture.input);
  } catch (error) {
    throw new Error(`read the capture ${capture.input}: ${(error as Error).message}`);
  }
  const { readCapture } = await import('../host-bindings/vm/pcap.js');
  readCapture(bytes, capture.input);
  return {
    bytes,
    name: capture.input,
    keepPassed: capture.output !== undefined,
    onReport(report) {
      for (const [program, verdicts] of report.verdicts) {
        const counts = [...verdicts].map(([verdict, n]) => `${verdict} ${n}`).join(', ');
        log(`wbpf: ${capture.input}: ${report.packets} packets through "${program}": ${counts}`);
      }
      if (capture.output !== undefined && report.passed) {
        writeFileSync(capture.output, report.passed);
        log(`wbpf: wrote the packets that passed to ${capture.output}`);
      }
    },
  };
}

// The runner starts this thread before it has checked the guest and sends the input when it has.
const inbox = openInbox(parentPort!);
void inbox
  .next<WorkerInput>()
  .then((input) => run(input, inbox))
  .catch((error: unknown): WorkerOutcome => ({ kind: 'failed', message: String(error) }))
  .then((outcome) => {
    inbox.close();
    parentPort!.postMessage(outcome);
  });
