// Packet accesses the JIT proves in bounds: which ones the analysis marks, and that the proofs
// never hide a fault (each program run in both engines must behave the same).
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';
import { buildCfg } from '../../../host-bindings/vm/jit-structure.js';
import { provenPacketAccesses } from '../../../host-bindings/vm/jit-bounds.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { load, MODES } from './build.js';

const XDP = BPF_PROG_TYPE.XDP;

function provenSlots(src: string): number[] {
  const p = decodeProgram(assemble(src));
  const proven = provenPacketAccesses(p, buildCfg(p, { start: 0, end: p.length }));
  return [...proven.keys()].filter((pc) => proven[pc]);
}

// data in r2, data_end in r3; 14 bytes proven on the fall-through of the jgt at pc 4.
const HEADER = `
  ldxw %r2, [%r1+0]
  ldxw %r3, [%r1+4]
  mov %r4, %r2
  add %r4, 14
  jgt %r4, %r3, out`;

describe('provenPacketAccesses', () => {
  it('marks accesses inside a range proven by data + k > data_end, and only those', () => {
    const slots = provenSlots(`${HEADER}
      ldxb %r0, [%r2+13]
      ldxh %r0, [%r2+13]
      stb [%r4-14], 1
      ldxb %r0, [%r2-1]
      ldxdw %r0, [%r2+6]
      exit
    out:
      mov %r0, 0
      exit`);
    expect(slots).toEqual([5, 7, 9]);
  });

  it('knows both operand orders and the taken side of jle / jlt', () => {
    expect(provenSlots(`${HEADER.replace('jgt %r4, %r3, out', 'jlt %r3, %r4, out')}
      ldxb %r0, [%r2+13]
      exit
    out:
      mov %r0, 0
      exit`)).toEqual([5]);
    expect(provenSlots(`
      ldxw %r2, [%r1+0]
      ldxw %r3, [%r1+4]
      mov %r4, %r2
      add %r4, 4
      jlt %r4, %r3, ok
      mov %r0, 0
      exit
    ok:
      ldxw %r0, [%r2+0]
      ldxb %r0, [%r2+4]
      exit`)).toEqual([7, 8]);
  });

  it('forgets the proof after a call and where paths disagree', () => {
    expect(provenSlots(`${HEADER}
      mov %r6, %r2
      call 7
      ldxb %r0, [%r6+0]
      exit
    out:
      mov %r0, 0
      exit`)).toEqual([]);
    expect(provenSlots(`
      ldxw %r2, [%r1+0]
      ldxw %r3, [%r1+4]
      jeq %r2, 0, join
      mov %r4, %r2
      add %r4, 14
      jgt %r4, %r3, out
    join:
      ldxb %r0, [%r2+0]
      exit
    out:
      mov %r0, 0
      exit`)).toEqual([]);
  });

  it('follows no pointer changed by 32-bit arithmetic or a non-constant add', () => {
    expect(provenSlots(`${HEADER}
      mov %r5, %r2
      add %r5, %r0
      ldxb %r0, [%r5+0]
      add32 %r2, 0
      ldxb %r0, [%r2+0]
      exit
    out:
      mov %r0, 0
      exit`)).toEqual([]);
  });
});

let vm: Vm | undefined;
afterEach(() => vm?.close());

for (const mode of MODES) {
  describe(`proven packet accesses (${mode})`, () => {
    const run = (src: string, packetLength: number): bigint => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const p = load(vm, 'p', XDP, src);
      const data = Uint8Array.from({ length: packetLength }, (_, i) => i + 1);
      vm.testRun(p, { dataIn: data });
      const r = vm.lastResult;
      vm.close();
      vm = undefined;
      return r;
    };

    it('reads proven bytes and takes the bounds check when the packet is short', () => {
      const src = `${HEADER}
        ldxb %r0, [%r2+13]
        exit
      out:
        mov %r0, 99
        exit`;
      expect(run(src, 14)).toBe(14n);
      expect(run(src, 13)).toBe(99n);
    });

    it('still checks an access past the proven range', () => {
      const src = `${HEADER}
        ldxb %r0, [%r2+14]
        exit
      out:
        mov %r0, 99
        exit`;
      expect(run(src, 15)).toBe(15n);
      expect(() => run(src, 14)).toThrow(/out-of-bounds load of 1 byte\(s\) .*\(pc 5\)/);
    });

    it('still checks after bpf_xdp_adjust_head shrinks the packet', () => {
      // 30 bytes proven, then the head moves 10 bytes in: data + 25 is now past data_end.
      const src = `
        mov %r6, %r1
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 30
        jgt %r4, %r3, out
        mov %r2, 10
        call 44
        ldxw %r2, [%r6+0]
        ldxb %r0, [%r2+25]
        exit
      out:
        mov %r0, 99
        exit`;
      expect(() => run(src, 30)).toThrow(/out-of-bounds load of 1 byte\(s\) .*\(pc 9\)/);
      expect(run(src, 36)).toBe(36n);
    });
  });
}
