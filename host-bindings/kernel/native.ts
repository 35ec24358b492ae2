// Loads the syscall addon (build/Release/wbpf_native.node) and says why the kernel backend
// cannot be used when it cannot.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Availability } from '../backend.js';
import { WbpfError } from '../errors.js';

/** The addon's functions. Failures return -errno; none of them throws. */
export interface Native {
  bpf(cmd: number, attr: Uint8Array): number;
  /** Address of a buffer's bytes, valid while the buffer is referenced (user addresses fit in 2^53). */
  addressOf(buffer: ArrayBufferView | ArrayBuffer): number;
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number;
  ioctl(fd: number, request: number, arg: number): number;
  /** An ArrayBuffer over the mapping, or -errno. */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer | number;
  /** Unmaps and detaches the buffer (views over it become empty). */
  munmap(buffer: ArrayBuffer): number;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number, data: number): number;
  /** Writes the data words of ready fds into `out`; returns how many, or -errno. */
  epollWait(epfd: number, out: Uint32Array, timeoutMs: number): number;
  close(fd: number): number;
  ifNameToIndex(name: string): number;
  strerror(errno: number): string;
  pageSize(): number;
}

export const PROT = { READ: 1, WRITE: 2 } as const;
export const MAP_SHARED = 1;
export const EPOLL = { IN: 1, CTL_ADD: 1, CTL_DEL: 2 } as const;

let cached: { native: Native } | { error: string } | undefined;

function repoRoot(): string {
  // This file sits at host-bindings/kernel/ in the sources and dist/host-bindings/kernel/ when built.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return dirname(dirname(dirname(fileURLToPath(import.meta.url))));
}

function tryLoad(): { native: Native } | { error: string } {
  if (process.platform !== 'linux') return { error: `not Linux (platform is ${process.platform})` };
  const root = repoRoot();
  const addon = join(root, 'build', 'Release', 'wbpf_native.node');
  if (!existsSync(addon)) {
    const log = join(root, 'build', 'native-build-error.txt');
    const why = existsSync(log) ? readFileSync(log, 'utf8').trim() : 'run `npm install` (or `node-gyp rebuild`) to build it';
    return { error: `the syscall addon ${addon} was not built: ${why}` };
  }
  try {
    return { native: createRequire(import.meta.url)(addon) as Native };
  } catch (e) {
    return { error: `cannot load ${addon}: ${(e as Error).message}` };
  }
}

/** The addon; throws WbpfError "kernel backend unavailable: <why>" when it cannot be loaded. */
export function loadNative(): Native {
  cached ??= tryLoad();
  if ('error' in cached) throw new WbpfError(`kernel backend unavailable: ${cached.error}`);
  return cached.native;
}

const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

function hasCapability(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && ((BigInt('0x' + m[1]) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** Whether the kernel backend can run here: Linux, the addon loads, and we may use bpf(). */
export function kernelAvailability(): Availability {
  // Privileges first: without them the addon is not loaded at all (the VM then runs in a thread
  // that never had it; see prestartGuestThread).
  if (process.platform === 'linux' && !hasCapability(CAP_BPF) && !hasCapability(CAP_SYS_ADMIN)) {
    const who = process.getuid?.() === 0 ? 'root without CAP_BPF/CAP_SYS_ADMIN' : 'not root (no CAP_BPF)';
    return { available: false, reason: `kernel backend unavailable: ${who}` };
  }
  cached ??= tryLoad();
  if ('error' in cached) return { available: false, reason: `kernel backend unavailable: ${cached.error}` };
  return { available: true };
}
