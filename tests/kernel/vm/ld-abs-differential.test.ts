// Legacy packet loads (ld_abs/ld_ind) through the kernel and the VM: the same programs and
// packets through BPF_PROG_TEST_RUN (as root) and through the VM's interpreter and JIT must give
// the same r0, for every size, around every edge of the packet and both headers, with negative
// and wrapping ld_ind sums; and the programs the kernel refuses, the VM refuses too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progLoad, progTestRun } from '../../../host-bindings/kernel/syscall.js';
import { loadNative } from '../../../host-bindings/kernel/native.js';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { skip, skipReason } from '../kernel-env.js';
import { insn, ldAbs, ldInd, probeOffsets, program, testPacket, type Size } from '../../unit/vm/ld-abs-programs.js';

const { SOCKET_FILTER: SF, SCHED_CLS: CLS, XDP } = BPF_PROG_TYPE;
const TYPES = [[SF, 'socket filter'], [CLS, 'tc']] as const;
const SIZES: Size[] = ['b', 'h', 'w'];
const CTX = 'mov %r6, %r1';

interface Case {
  what: string;
  type: number;
  insns: Uint8Array;
}

function cases(length: number): Case[] {
  const out: Case[] = [];
  for (const [type, name] of TYPES) {
    for (const size of SIZES) {
      for (const k of probeOffsets(length)) {
        out.push({ what: `${name} ldabs${size} ${k}`, type, insns: program(CTX, ldAbs(size, k), 'exit') });
        // The same k as src + imm: split evenly, with src's high half set (ignored), and as a
        // 64-bit sum that only wraps in the low 32 bits.
        const imm = k >> 1, src = k - imm;
        out.push({ what: `${name} ldind${size} ${src}+${imm}`, type, insns: program(CTX, `lddw %r7, ${src}`, ldInd(size, 7, imm), 'exit') });
        out.push({
          what: `${name} ldind${size} ${src}+2^32*3+${imm}`, type,
          insns: program(CTX, `lddw %r8, 0x${(BigInt.asUintN(64, BigInt(src)) + (3n << 32n)).toString(16)}`, ldInd(size, 8, imm), 'exit'),
        });
      }
    }
    // A load that succeeds, then one that fails: the run ends at the second with r0 = 0.
    out.push({ what: `${name} two loads`, type, insns: program(CTX, ldAbs('b', 0), 'mov %r7, %r0', ldAbs('h', 2), 'add %r0, %r7', 'exit') });
    out.push({ what: `${name} ok then out`, type, insns: program(CTX, ldAbs('b', 0), 'mov %r7, %r0', ldAbs('w', 100000), 'mov %r0, %r7', 'exit') });
  }
  return out;
}

const native = skip ? undefined : loadNative();

function kernelRun(c: Case, data: Uint8Array): string {
  let fd: number;
  try {
    fd = progLoad({ name: 'ld_abs', type: c.type, insns: c.insns, license: 'GPL' });
  } catch (e) {
    return `refused: ${(e as Error).message.split('\n').find((l) => /LD_ABS|ld_abs|reserved|opcode|read_ok|R6|subprogs|not allowed/.test(l)) ?? ''}`;
  }
  try {
    return `r0 ${progTestRun(fd, { dataIn: data }).retval}`;
  } finally {
    native!.close(fd);
  }
}

function vmRun(vm: Vm, c: Case, data: Uint8Array): string {
  let p;
  try {
    p = vm.loadProgram({ name: 'ld_abs', type: c.type, insns: c.insns });
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
  try {
    return `r0 ${vm.testRun(p, { dataIn: data }).retval}`;
  } finally {
    vm.unloadProgram(p);
  }
}

describe.skipIf(skip)(`legacy packet loads, VM vs kernel${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const vms: Record<'interp' | 'jit', Vm> = {} as never;
  beforeAll(() => {
    vms.interp = new Vm({ mode: 'interp', memoryBytes: 4 << 20 });
    vms.jit = new Vm({ mode: 'jit', memoryBytes: 4 << 20 });
  });
  afterAll(() => {
    vms.interp?.close();
    vms.jit?.close();
  });

  for (const length of [34, 64, 300]) {
    it(`give the kernel's r0 for every size and edge (${length}-byte packet)`, () => {
      const data = testPacket(length);
      const mismatches: string[] = [];
      let loaded = 0;
      for (const c of cases(length)) {
        const kernel = kernelRun(c, data);
        if (kernel.startsWith('r0')) loaded++;
        for (const mode of ['interp', 'jit'] as const) {
          const vm = vmRun(vms[mode], c, data);
          if (vm !== kernel) mismatches.push(`${c.what} (${mode}): kernel ${kernel}, vm ${vm}`);
        }
      }
      expect(mismatches.slice(0, 10)).toEqual([]);
      expect(loaded).toBeGreaterThan(200);
    });
  }

  it('refuse what the kernel refuses', () => {
    const bad: Case[] = [
      { what: 'XDP', type: XDP, insns: program(CTX, ldAbs('b', 0), 'exit') },
      { what: 'dst r1', type: SF, insns: program(CTX, insn(0x30, 1, 0, 0, 0), 'exit') },
      { what: 'offset 1', type: SF, insns: program(CTX, insn(0x30, 0, 0, 1, 0), 'exit') },
      { what: 'ld_abs with a source', type: SF, insns: program(CTX, 'mov %r1, 0', insn(0x30, 0, 1, 0, 0), 'exit') },
      { what: 'DW', type: SF, insns: program(CTX, insn(0x38, 0, 0, 0, 0), 'exit') },
      { what: 'no r6', type: SF, insns: program(ldAbs('b', 0), 'exit') },
      { what: 'r6 a scalar', type: SF, insns: program('mov %r6, 0', ldAbs('b', 0), 'exit') },
      { what: 'r6 ctx + 4', type: SF, insns: program(CTX, 'add %r6, 4', ldAbs('b', 0), 'exit') },
      { what: 'src unset', type: CLS, insns: program(CTX, ldInd('b', 7, 0), 'exit') },
      { what: 'r1 read after', type: CLS, insns: program(CTX, ldAbs('b', 0), 'mov %r0, %r1', 'exit') },
      { what: 'in a subprogram', type: CLS, insns: program(CTX, 'call local sub\nexit\nsub:\nmov %r6, %r1', ldAbs('b', 0), 'exit') },
    ];
    const data = testPacket();
    for (const c of bad) {
      expect({ what: c.what, kernel: kernelRun(c, data) }).toMatchObject({ kernel: expect.stringMatching(/^refused/) });
      for (const mode of ['interp', 'jit'] as const) expect({ what: c.what, mode, vm: vmRun(vms[mode], c, data) }).toMatchObject({ vm: expect.stringMatching(/^refused/) });
    }
  });
});
