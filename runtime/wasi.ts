// WASI preview1 for a guest, from node:wasi, with these adjustments:
// - fd_fdstat_get reports fds 0-2 as non-seekable character devices, so wasi-libc's stdio
//   line-buffers stdout (a C guest piped into grep streams line by line, and nothing printed
//   before Ctrl-C is lost in a full buffer);
// - poll_oneoff with only clock subscriptions (sleep, usleep, nanosleep) sleeps on the stop flag,
//   so a stop request ends the sleep at once;
// - fd_read on stdin first waits for input in short slices, checking the stop flag: a thread
//   blocked in a native read can be neither stopped nor terminated (nor can the process exit);
// - paths stay inside the directories the guest was given, symlinks included (wasi-sandbox.ts);
// - every call can be traced (--verbose).
// node:wasi prints an ExperimentalWarning when first loaded; that warning alone is dropped.

import type { WASI as WasiClass } from 'node:wasi';
import { GuestStopped } from '../host-bindings/abi/stopped.js';
import type { GuestMemory } from '../host-bindings/abi/guest-memory.js';
import type { StopFlag } from './stop-flag.js';
import { confinePaths } from './wasi-sandbox.js';

export const WASI_MODULE = 'wasi_snapshot_preview1';

type WasiFunction = (...args: number[]) => number;

let wasiModule: Promise<typeof import('node:wasi')> | undefined;

/** node:wasi, loaded once per thread without its ExperimentalWarning. */
export function loadWasi(): Promise<typeof import('node:wasi')> {
  wasiModule ??= (async () => {
    const emitWarning = process.emitWarning;
    process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
      const first = rest[0];
      const type = typeof first === 'string' ? first : (first as { type?: string } | undefined)?.type;
      const text = typeof warning === 'string' ? warning : warning.message;
      if (type === 'ExperimentalWarning' && text.startsWith('WASI')) return;
      return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    } as typeof process.emitWarning;
    try {
      return await import('node:wasi');
    } finally {
      process.emitWarning = emitWarning;
    }
  })();
  return wasiModule;
}

/** The names of every preview1 function node:wasi provides. */
export async function wasiFunctionNames(): Promise<string[]> {
  const { WASI } = await loadWasi();
  return Object.keys(new WASI({ version: 'preview1' }).wasiImport);
}

export interface WasiImportOptions {
  wasi: WasiClass;
  stop: StopFlag;
  /** The guest's memory once instantiated (null before). */
  memory: () => GuestMemory | null;
  /** When set, every call is logged with its arguments and result. */
  trace?: (line: string) => void;
  /** Called while the guest sleeps, with the time it sleeps until (see Backend.idle). */
  idle?: (untilMs: number) => void;
  /** The directories given to the guest (guest path -> host path): its paths stay inside them. */
  preopens?: Record<string, string>;
}

/** How long a sleeping guest waits between idle calls: the VM's timers fire no later than this. */
const IDLE_SLICE_MS = 5;

// WASI preview1 numbers (wasi_snapshot_preview1.witx).
const ERRNO_SUCCESS = 0;
const ERRNO_FAULT = 21;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHTS_FD_SEEK = 1n << 2n;
const RIGHTS_FD_TELL = 1n << 5n;
const EVENTTYPE_CLOCK = 0;
const SUBCLOCKFLAGS_ABSTIME = 1;
const CLOCK_REALTIME = 0;
const SUBSCRIPTION_SIZE = 48;
const EVENT_SIZE = 32;

export function wasiImports(options: WasiImportOptions): Record<string, WasiFunction> {
  const original = options.wasi.wasiImport as Record<string, WasiFunction>;
  const functions: Record<string, WasiFunction> = { ...original };

  functions.fd_fdstat_get = (fd: number, statPtr: number): number => {
    const result = original.fd_fdstat_get(fd, statPtr);
    const memory = options.memory();
    if (result !== ERRNO_SUCCESS || fd < 0 || fd > 2 || !memory) return result;
    const at = statPtr >>> 0;
    const view = memory.range(at, 24);
    if (!view) return result;
    const data = new DataView(view.buffer, view.byteOffset, 24);
    data.setUint8(0, FILETYPE_CHARACTER_DEVICE);
    data.setBigUint64(8, data.getBigUint64(8, true) & ~(RIGHTS_FD_SEEK | RIGHTS_FD_TELL), true);
    return result;
  };

  functions.poll_oneoff = (inPtr: number, outPtr: number, count: number, neventsPtr: number): number => {
    if (options.stop.requested) throw new GuestStopped();
    const memory = options.memory();
    const n = count >>> 0;
    const subsAt = inPtr >>> 0;
    const eventsAt = outPtr >>> 0;
    const neventsAt = neventsPtr >>> 0;
    if (!memory || n === 0) return original.poll_oneoff(inPtr, outPtr, count, neventsPtr);
    if (!memory.contains(subsAt, n * SUBSCRIPTION_SIZE) || !memory.contains(eventsAt, n * EVENT_SIZE) || !memory.contains(neventsAt, 4)) {
      return ERRNO_FAULT;
    }
    const bytes = memory.bytes();
    const data = new DataView(bytes.buffer);
    // Subscriptions on fds (stdin readiness) go to node:wasi as they are; only sleeps are ours.
    for (let i = 0; i < n; i++) {
      if (data.getUint8(subsAt + i * SUBSCRIPTION_SIZE + 8) !== EVENTTYPE_CLOCK) {
        return original.poll_oneoff(inPtr, outPtr, count, neventsPtr);
      }
    }
    const remaining: bigint[] = [];
    let shortest = -1n;
    for (let i = 0; i < n; i++) {
      const sub = subsAt + i * SUBSCRIPTION_SIZE;
      const clock = data.getUint32(sub + 16, true);
      const timeout = data.getBigUint64(sub + 24, true);
      const absolute = (data.getUint16(sub + 40, true) & SUBCLOCKFLAGS_ABSTIME) !== 0;
      let left = absolute ? timeout - now(clock) : timeout;
      if (left < 0n) left = 0n;
      remaining.push(left);
      if (shortest < 0n || left < shortest) shortest = left;
    }
    if (sleep(options, Number(shortest) / 1e6)) throw new GuestStopped();
    const out = new DataView(memory.bytes().buffer);
    let events = 0;
    for (let i = 0; i < n; i++) {
      if (remaining[i]! > shortest) continue;
      const event = eventsAt + events * EVENT_SIZE;
      out.setBigUint64(event, out.getBigUint64(subsAt + i * SUBSCRIPTION_SIZE, true), true);
      out.setUint16(event + 8, ERRNO_SUCCESS, true);
      out.setUint8(event + 10, EVENTTYPE_CLOCK);
      for (let b = 11; b < EVENT_SIZE; b++) out.setUint8(event + b, 0);
      events++;
    }
    out.setUint32(neventsAt, events, true);
    return ERRNO_SUCCESS;
  };

  if (options.preopens && Object.keys(options.preopens).length > 0) {
    confinePaths(functions, { preopens: options.preopens, memory: options.memory });
  }

  let stdinPollable = true;
  functions.fd_read = (fd: number, iovs: number, iovsLen: number, nread: number): number => {
    if (fd === 0 && stdinPollable) stdinPollable = waitForStdin(original, options);
    return original.fd_read(fd, iovs, iovsLen, nread);
  };

  const trace = options.trace;
  if (!trace) return functions;
  const traced: Record<string, WasiFunction> = {};
  for (const [name, fn] of Object.entries(functions)) {
    traced[name] = (...args: number[]) => {
      const result = fn(...args);
      trace(`wbpf: ${WASI_MODULE}.${name}(${args.join(', ')}) = ${result}`);
      return result;
    };
  }
  return traced;
}

/** Sleeps on the stop flag; with an idle hook, in slices that give the backend its turns. */
function sleep(options: WasiImportOptions, ms: number): boolean {
  const idle = options.idle;
  if (!idle) return options.stop.sleep(ms);
  const until = Date.now() + ms;
  for (;;) {
    idle(until);
    const left = until - Date.now();
    if (left <= 0) return options.stop.requested;
    if (options.stop.sleep(Math.min(left, IDLE_SLICE_MS))) return true;
  }
}

const STDIN_SLICE_NS = 100_000_000n;
const EVENTTYPE_FD_READ = 1;
const SCRATCH = 2 * SUBSCRIPTION_SIZE + 2 * EVENT_SIZE + 4;

/**
 * Waits until stdin is readable (or at end), a slice at a time, throwing GuestStopped when a
 * stop is requested. node:wasi's poll_oneoff reads its subscriptions from guest memory, so the
 * first bytes of memory are borrowed for them and restored before the guest runs again.
 * Returns false when stdin cannot be polled (a regular file: reads never block anyway).
 */
function waitForStdin(original: Record<string, WasiFunction>, options: WasiImportOptions): boolean {
  const memory = options.memory();
  if (!memory || !memory.contains(0, SCRATCH)) return false;
  const saved = memory.copy(0, SCRATCH)!;
  try {
    for (;;) {
      if (options.stop.requested) throw new GuestStopped();
      const data = new DataView(memory.bytes().buffer, 0, SCRATCH);
      for (let i = 0; i < SCRATCH; i++) data.setUint8(i, 0);
      data.setBigUint64(0, 1n, true); // userdata 1: stdin
      data.setUint8(8, EVENTTYPE_FD_READ);
      data.setUint32(16, 0, true);
      data.setBigUint64(SUBSCRIPTION_SIZE, 2n, true); // userdata 2: the slice
      data.setUint8(SUBSCRIPTION_SIZE + 8, EVENTTYPE_CLOCK);
      data.setUint32(SUBSCRIPTION_SIZE + 16, 1, true); // monotonic
      data.setBigUint64(SUBSCRIPTION_SIZE + 24, STDIN_SLICE_NS, true);
      const events = 2 * SUBSCRIPTION_SIZE;
      const count = events + 2 * EVENT_SIZE;
      if (original.poll_oneoff(0, events, 2, count) !== ERRNO_SUCCESS) return false;
      const after = new DataView(memory.bytes().buffer, 0, SCRATCH);
      const n = after.getUint32(count, true);
      for (let i = 0; i < n; i++) {
        const event = events + i * EVENT_SIZE;
        if (after.getBigUint64(event, true) !== 1n) continue;
        // Readable, at end, or an error: the read itself will tell the guest which.
        return after.getUint16(event + 8, true) === ERRNO_SUCCESS;
      }
    }
  } finally {
    memory.bytes().set(saved, 0);
  }
}

function now(clock: number): bigint {
  return clock === CLOCK_REALTIME ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
}
