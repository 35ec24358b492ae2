// Which packets a test run of an skb program takes: the kernel refuses an IPv4 or IPv6 frame
// shorter than its IP header; the VM's testRun must refuse exactly the same lengths, while a
// replayed capture (runPacket) still gets them, as a hook would.
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../../host-bindings/kernel/native.js';
import { progLoad, progTestRun } from '../../../host-bindings/kernel/syscall.js';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { skip, skipReason } from '../kernel-env.js';

const TYPES = [BPF_PROG_TYPE.SOCKET_FILTER, BPF_PROG_TYPE.SCHED_CLS, BPF_PROG_TYPE.CGROUP_SKB];
const ETHERTYPES = [0x0800, 0x86dd, 0x0806];
const insns = assemble('mov %r0, 1\nexit');

function frame(length: number, ethertype: number): Uint8Array {
  const f = new Uint8Array(length);
  f[12] = ethertype >> 8;
  f[13] = ethertype & 0xff;
  return f;
}

describe.skipIf(skip)(`test-run input, kernel against VM${skip ? ` (skipped: ${skipReason})` : ''}`, () => {
  it.each(TYPES)('program type %i: the same frame lengths are refused', (type) => {
    const fd = progLoad({ name: 'accept', type, insns, license: 'GPL' });
    const vm = new Vm({ mode: 'interp', memoryBytes: 1 << 20 });
    const p = vm.loadProgram({ name: 'accept', type, insns });
    try {
      for (const ethertype of ETHERTYPES) {
        const lengths = Array.from({ length: 60 }, (_, i) => 14 + i);
        const kernel = lengths.filter((n) => {
          try {
            progTestRun(fd, { dataIn: frame(n, ethertype) });
            return true;
          } catch {
            return false;
          }
        });
        const inVm = lengths.filter((n) => {
          try {
            vm.testRun(p, { dataIn: frame(n, ethertype) });
            return true;
          } catch (e) {
            expect((e as Error).message).toMatch(/shorter than its Ethernet and IPv[46] headers .*refuses, as the kernel's does/);
            return false;
          }
        });
        expect(inVm, `ethertype 0x${ethertype.toString(16)}`).toEqual(kernel);
        expect(lengths.every((n) => vm.runPacket(p, { dataIn: frame(n, ethertype) }).retval === 1)).toBe(true);
      }
    } finally {
      vm.close();
      loadNative().close(fd);
    }
  });
});
