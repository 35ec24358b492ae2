// Which __sk_buff fields a program may write, per program type: the kernel decides at load time
// (a store to any other field is refused), the VM at run time (the store faults as a store to
// read-only memory). Stores of 4 bytes at every 4-byte offset and of 8 at every 8-byte one: every
// store the kernel accepts must run in the VM, and the VM must refuse every store to a field the
// kernel lets no store write. (The VM checks fields, not sizes: it also takes a 4-byte store to
// the u64 tstamp, which the kernel refuses.)
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../../host-bindings/kernel/native.js';
import { progLoad, progTestRun } from '../../../host-bindings/kernel/syscall.js';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { SK_BUFF_SIZE } from '../../../host-bindings/vm/contexts.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { skip, skipReason } from '../kernel-env.js';

const TYPES = [[BPF_PROG_TYPE.SOCKET_FILTER, 'socket filter'], [BPF_PROG_TYPE.SCHED_CLS, 'tc'], [BPF_PROG_TYPE.CGROUP_SKB, 'cgroup skb']] as const;
const packet = new Uint8Array(64).fill(0x45);
const store = (off: number, size: number) => assemble(`${size === 8 ? 'stdw' : 'stw'} [%r1+${off}], 0\nmov %r0, 1\nexit`);
const STORES = Array.from({ length: SK_BUFF_SIZE / 4 }, (_, i) => i * 4).flatMap((off) => (off % 8 === 0 ? [[off, 4], [off, 8]] : [[off, 4]]));

function kernelAllows(type: number, off: number, size: number): boolean {
  let fd: number;
  try {
    fd = progLoad({ name: 'skb_write', type, insns: store(off, size), license: 'GPL' });
  } catch {
    return false;
  }
  try {
    progTestRun(fd, { dataIn: packet });
    return true;
  } finally {
    loadNative().close(fd);
  }
}

function vmAllows(vm: Vm, type: number, off: number, size: number): boolean {
  const p = vm.loadProgram({ name: 'skb_write', type, insns: store(off, size) });
  try {
    vm.testRun(p, { dataIn: packet });
    return true;
  } catch (e) {
    expect((e as Error).message).toMatch(/store of \d byte\(s\) to read-only memory/);
    return false;
  } finally {
    vm.unloadProgram(p);
  }
}

describe.skipIf(skip)(`__sk_buff stores, kernel against VM${skip ? ` (skipped: ${skipReason})` : ''}`, () => {
  it.each(TYPES)('%s: the same fields are writable', (type) => {
    const key = ([off, size]: number[]) => `${off}/${size}`;
    const kernel = STORES.filter(([off, size]) => kernelAllows(type, off!, size!)).map(key);
    const vm = new Vm({ mode: 'interp', memoryBytes: 1 << 20 });
    let inVm: string[];
    try {
      inVm = STORES.filter(([off, size]) => vmAllows(vm, type, off!, size!)).map(key);
    } finally {
      vm.close();
    }
    expect(kernel.length).toBeGreaterThan(0);
    expect(kernel.filter((k) => !inVm.includes(k))).toEqual([]);
    // A field the VM lets a program write is one the kernel lets some store write.
    const kernelBytes = new Set(kernel.flatMap((k) => { const [off, size] = k.split('/').map(Number); return Array.from({ length: size! }, (_, i) => off! + i); }));
    expect(inVm.filter((k) => !kernelBytes.has(Number(k.split('/')[0])))).toEqual([]);
  });
});
