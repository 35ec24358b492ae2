// Running a guest: the main-thread side. Checks the module before anything starts (bad bytes,
// missing imports, unavailable backend), runs it in a worker thread, turns SIGINT, SIGTERM, a
// timeout or an AbortSignal into a prompt stop, and makes sure nothing the guest created stays
// in the kernel: the worker releases its objects itself, and if it has to be terminated the
// fds it left behind are closed from here.
//
// Exit codes: the guest's proc_exit code (masked to 0..255), 0 when _start returns, 1 for a
// trap or a host failure, 130 after SIGINT, 143 after SIGTERM or a timeout (the timeout ends
// the guest as SIGTERM would, so it reports the same status; timeout(1)'s 124 would hide that).

import { writeSync } from 'node:fs';
import { WbpfError } from '../host-bindings/errors.js';
import { CALLBACK_WRAPPER_MODULE, WASM_BPF_IMPORTS, WASM_BPF_MODULE } from '../host-bindings/abi/wasm-bpf.js';
import { type BackendChoice, type BackendKind, chooseBackend, closeKernelFds, kernelBtfParts } from './backends.js';
import type { CapabilityPolicy } from './capabilities.js';
import { SharedFdTable } from './fd-table.js';
import { type GuestThread, takeGuestThread } from './guest-thread.js';
import { compileGuest, readGuest } from './guest-module.js';
import { checkImports, importsFrom } from './imports.js';
import { StopFlag } from './stop-flag.js';
import { formatTrap, type TrapReport } from './trap.js';
import { WASI_MODULE, wasiFunctionNames } from './wasi.js';
import type { WorkerInput, WorkerKernelBtf, WorkerOutcome } from './worker-protocol.js';

export interface RunOptions {
  /** Path of the guest module (a WASI preview1 command). */
  wasm: string;
  /** Arguments after argv[0]; argv[0] is `argv0`, else `wasm` as given. */
  args?: string[];
  /** The guest's argv[0] when the file's path is not what it should see (a bundle's layer title). */
  argv0?: string;
  /** How messages name the guest (a bundle reference); default `wasm`. */
  name?: string;
  /** Refuse loads and attaches outside this policy (see runtime/capabilities.ts); absent = no check. */
  capabilities?: CapabilityPolicy;
  /**
   * Replay a pcap/pcapng file through the XDP, tc and socket-filter programs the guest attaches
   * (VM backend only); verdict counts go to the diagnostics fd, passed packets to `output`.
   */
  pcap?: { input: string; output?: string };
  /** Addressable memory of the built-in VM, when it runs the guest's eBPF (default 32 MiB). */
  vmMemoryBytes?: number;
  env?: Record<string, string>;
  /** Host directories the guest may open, at the given guest path (default: the host path). */
  dirs?: { host: string; guest?: string }[];
  backend?: BackendChoice;
  /** Log every host call and backend error message to the diagnostics fd. */
  verbose?: boolean;
  /** Stop the guest after this many milliseconds (like SIGTERM). */
  timeoutMs?: number;
  /** Stop the guest on SIGINT and SIGTERM while it runs (default true). */
  handleSignals?: boolean;
  /** Stop the guest when aborted. */
  signal?: AbortSignal;
  /** Guest stdin, stdout, stderr (default 0, 1, 2: inherited). */
  stdio?: [number, number, number];
  /** Where host diagnostics go (default 2). */
  diagnosticsFd?: number;
}

export type StopReason = 'SIGINT' | 'SIGTERM' | 'timeout' | 'abort';

export interface RunResult {
  /** The process exit status this run stands for. */
  exitCode: number;
  outcome: 'exited' | 'trapped' | 'stopped' | 'failed';
  stopReason?: StopReason;
  trap?: TrapReport;
  /** Host failure (outcome 'failed'). */
  message?: string;
  /** The backend used, or null when the guest needs none. */
  backend: BackendKind | null;
}

/** How long a stopped guest may take to unwind before its thread is terminated. */
const STOP_GRACE_MS = 300;
/** How long a terminated thread may take to go before the run ends without it. */
const ABANDON_MS = 1000;

const STOP_EXIT_CODES: Record<StopReason, number> = { SIGINT: 130, SIGTERM: 143, timeout: 143, abort: 143 };

/**
 * Runs a guest to completion. Rejects (WbpfError) only when the guest cannot be started: an
 * unreadable or malformed module, imports the runtime does not provide, no usable backend.
 * Everything that happens once it runs is in the RunResult, and already reported on the
 * diagnostics fd (traps with their Wasm stack, host failures, timeouts).
 */
export async function runGuest(options: RunOptions): Promise<RunResult> {
  // The thread is started before the guest is checked (or earlier, see prestartGuestThread), so
  // that its start-up overlaps the checks; it is ended if the guest cannot be started.
  const thread = takeGuestThread();
  try {
    return await runIn(thread, options);
  } catch (error) {
    await thread.worker.terminate();
    throw error;
  }
}

async function runIn(thread: GuestThread, options: RunOptions): Promise<RunResult> {
  const { worker } = thread;
  const diagnosticsFd = options.diagnosticsFd ?? 2;
  const say = (text: string) => {
    try {
      writeSync(diagnosticsFd, text.endsWith('\n') ? text : text + '\n');
    } catch {
      // Nowhere left to report to.
    }
  };
  const file = options.name ?? options.wasm;
  const module = await compileGuest(await readGuest(options.wasm), file);
  checkImports(module, { [WASI_MODULE]: await wasiFunctionNames(), ...WASM_BPF_IMPORTS }, file);

  // A guest without eBPF imports needs no backend, unless the user named one (then it must work).
  let backend: BackendKind | null = null;
  let kernelUnavailable: string | undefined;
  const choice = options.backend ?? 'auto';
  if (choice !== 'auto' || importsFrom(module, [WASM_BPF_MODULE, CALLBACK_WRAPPER_MODULE])) {
    const chosen = await chooseBackend(choice);
    backend = chosen.kind;
    kernelUnavailable = chosen.kernelUnavailable;
    if (options.verbose) say(`wbpf: backend: ${chosen.note}`);
  } else if (options.verbose) {
    say('wbpf: backend: none (the guest imports no eBPF functions)');
  }

  if (options.pcap && backend !== 'vm') {
    throw new WbpfError(`${file}: a pcap capture feeds only the VM backend (--backend vm), not ${backend ?? 'a guest without eBPF'}`);
  }

  const stop = new StopFlag();
  const fds = new SharedFdTable();
  const preopens: Record<string, string> = {};
  for (const dir of options.dirs ?? []) preopens[dir.guest ?? dir.host] = dir.host;
  const input: WorkerInput = {
    module,
    file,
    args: [options.argv0 ?? options.wasm, ...(options.args ?? [])],
    env: options.env ?? {},
    preopens,
    stdio: options.stdio ?? [0, 1, 2],
    diagnosticsFd,
    verbose: options.verbose ?? false,
    backend,
    ...(kernelUnavailable ? { kernelUnavailable } : {}),
    ...(options.capabilities ? { capabilities: options.capabilities } : {}),
    ...(options.pcap ? { capture: options.pcap } : {}),
    ...(options.vmMemoryBytes !== undefined ? { vmMemoryBytes: options.vmMemoryBytes } : {}),
    stopBuffer: stop.buffer,
    fdBuffer: fds.buffer,
  };

  worker.postMessage(input);
  // The kernel's BTF follows: read and parsed here while the guest's thread opens the backend,
  // and moved, not copied (its arrays are megabytes, made for that thread only).
  if (backend === 'kernel') {
    const kernelBtf = await kernelBtfParts();
    const message: WorkerKernelBtf = { kernelBtf: kernelBtf ?? null };
    const transfer = kernelBtf ? [kernelBtf.data.buffer, kernelBtf.offsets.buffer, kernelBtf.nameOffsets.buffer] : [];
    worker.postMessage(message, transfer as ArrayBuffer[]);
  }
  let stopReason: StopReason | undefined;
  let terminated = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let abandonTimer: NodeJS.Timeout | undefined;

  // terminate() cannot interrupt a thread blocked in native code (a guest reading stdin):
  // after ABANDON_MS the run ends without it; the CLI then exits the process.
  const terminate = () => {
    if (terminated) return;
    terminated = true;
    void worker.terminate();
    abandonTimer = setTimeout(thread.abandon, ABANDON_MS);
  };
  const requestStop = (reason: StopReason) => {
    if (stopReason) {
      terminate(); // a second Ctrl-C does not wait
      return;
    }
    stopReason = reason;
    if (reason === 'timeout') say(`wbpf: ${file}: timed out after ${options.timeoutMs} ms, stopping the guest`);
    stop.request();
    graceTimer = setTimeout(terminate, STOP_GRACE_MS);
  };

  const onSigint = () => requestStop('SIGINT');
  const onSigterm = () => requestStop('SIGTERM');
  const onAbort = () => requestStop('abort');
  if (options.handleSignals ?? true) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
  if (options.signal?.aborted) requestStop('abort');
  options.signal?.addEventListener('abort', onAbort);
  const timeoutTimer = options.timeoutMs !== undefined ? setTimeout(() => requestStop('timeout'), options.timeoutMs) : undefined;

  await thread.exited;

  clearTimeout(timeoutTimer);
  clearTimeout(graceTimer);
  clearTimeout(abandonTimer);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  options.signal?.removeEventListener('abort', onAbort);
  if (terminated && backend === 'kernel') await closeKernelFds(fds.list());

  const result = settle(thread.outcome, stopReason, thread.error, backend);
  if (result.outcome === 'trapped' && result.trap) say(formatTrap(result.trap, file));
  if (result.outcome === 'failed') say(`wbpf: ${file}: ${result.message}`);
  return result;
}

function settle(
  outcome: WorkerOutcome | null,
  stopReason: StopReason | undefined,
  workerError: Error | undefined,
  backend: BackendKind | null,
): RunResult {
  // A stop request decides the status even if the guest then exited or trapped on its way out.
  if (stopReason) return { exitCode: STOP_EXIT_CODES[stopReason], outcome: 'stopped', stopReason, backend };
  if (!outcome) {
    const message = workerError ? `the guest's thread failed: ${workerError.message}` : "the guest's thread ended without a result";
    return { exitCode: 1, outcome: 'failed', message, backend };
  }
  switch (outcome.kind) {
    case 'exited':
      return { exitCode: outcome.code, outcome: 'exited', backend };
    case 'trapped':
      return { exitCode: 1, outcome: 'trapped', trap: outcome.trap, backend };
    case 'stopped':
      return { exitCode: STOP_EXIT_CODES.SIGTERM, outcome: 'stopped', backend };
    case 'failed':
      return { exitCode: 1, outcome: 'failed', message: outcome.message, backend };
  }
}
