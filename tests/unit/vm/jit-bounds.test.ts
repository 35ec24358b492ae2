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
import { prng } from '../../support/prng.js';

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

  // data in r2, data_end in r3; 64 bytes proven, then a loop over r5 = 0, 1, ... with the
  // given exit test; the loop body reads data + r5.
  const loop = (exit: string, body = 'ldxb %r0, [%r4+0]') => `
      ldxw %r2, [%r1+0]
      ldxw %r3, [%r1+4]
      mov %r4, %r2
      add %r4, 64
      jgt %r4, %r3, out
      mov %r5, 0
    top:
      mov %r4, %r2
      add %r4, %r5
      ${body}
      add %r5, 1
      ${exit}
      ja top
    out:
      mov %r0, 0
      exit`;

  it('proves a loop index inside the checked range, by != at the bound or by <', () => {
    expect(provenSlots(loop('jeq %r5, 64, out'))).toEqual([8]);
    expect(provenSlots(loop('jge %r5, 64, out'))).toEqual([8]);
    expect(provenSlots(loop('jlt32 %r5, 64, top\n      ja out'))).toEqual([8]);
    expect(provenSlots(loop('jeq %r5, 61, out', 'ldxw %r0, [%r4+0]'))).toEqual([8]);
  });

  it('does not prove a loop that can reach past the range', () => {
    expect(provenSlots(loop('jeq %r5, 65, out'))).toEqual([]);
    expect(provenSlots(loop('jeq %r5, 62, out', 'ldxw %r0, [%r4+0]'))).toEqual([]);
    expect(provenSlots(loop('jgt %r5, 64, out'))).toEqual([]);
    expect(provenSlots(loop('jne %r5, 64, top\n      ja out', 'ldxb %r0, [%r4-1]'))).toEqual([]);
    // A step of 2 skips the exit value 64 only when the count starts odd: never proven by !=.
    expect(provenSlots(loop('add %r5, 1\n      jeq %r5, 64, out'))).toEqual([]);
  });

  it('loses an index that may wrap around or leave 32 bits', () => {
    // Whether the read of data + r5 after `ops` is proven (14 bytes are).
    const indexProven = (ops: string): boolean => {
      const src = `${HEADER}
        ${ops}
        add %r2, %r5
        ldxb %r0, [%r2+0]
        exit
      out:
        mov %r0, 0
        exit`;
      const slots = provenSlots(src);
      return slots.includes(decodeProgram(assemble(src)).length - 4);
    };
    expect(indexProven('mov %r5, 13')).toBe(true);
    expect(indexProven('mov %r5, 14')).toBe(false);
    expect(indexProven('ldxw %r5, [%r2+0]\n        rsh %r5, 29')).toBe(true);
    expect(indexProven('ldxw %r5, [%r2+0]\n        rsh %r5, 28')).toBe(false);
    expect(indexProven('ldxw %r5, [%r2+0]\n        be64 %r5\n        rsh %r5, 60')).toBe(false); // all 64 bits
    expect(indexProven('mov32 %r5, -1\n        add %r5, 1\n        rsh %r5, 29')).toBe(false); // 2^32 >> 29 = 8
    expect(indexProven('mov32 %r5, -1\n        add32 %r5, 1')).toBe(false); // 0, but only after a wrap
    expect(indexProven('mov %r5, 0\n        sub %r5, 1\n        rsh %r5, 60')).toBe(false);
    expect(indexProven('ldxw %r5, [%r2+0]\n        jsgt32 %r5, 10, out')).toBe(false); // may be negative as i32
    expect(indexProven('ldxw %r5, [%r2+0]\n        jgt32 %r5, 10, out')).toBe(true);
    expect(indexProven('ldxdw %r5, [%r2+0]\n        jgt32 %r5, 10, out')).toBe(false); // only the low half compared
    expect(indexProven('ldxdw %r5, [%r2+0]\n        jgt %r5, 10, out')).toBe(true);
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

    it('sums a packet through a proven loop index, and skips the loop for a short packet', () => {
      const src = `
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 64
        mov %r0, 99
        jgt %r4, %r3, out
        mov %r0, 0
        mov %r5, 0
      top:
        mov %r4, %r2
        add %r4, %r5
        ldxb %r4, [%r4+0]
        add %r0, %r4
        add %r5, 1
        jeq %r5, 64, out
        ja top
      out:
        exit`;
      expect(run(src, 64)).toBe(BigInt((64 * 65) / 2));
      expect(run(src, 100)).toBe(BigInt((64 * 65) / 2));
      expect(run(src, 63)).toBe(99n);
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

/**
 * A random loop over the packet: a checked window of k bytes, an index with a random start,
 * step, transformation and exit test, and one access at data + index + off in the body.
 */
function randomLoop(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const k = Math.floor(next() * 80);
  const size = pick(['b', 'h', 'w', 'dw']);
  const off = pick([0, 0, 1, -1, 3, 7]);
  const at = `[%r4${off >= 0 ? '+' : ''}${off}]`;
  const exit = `${pick(['jeq', 'jge', 'jgt', 'jne', 'jlt', 'jle', 'jsge', 'jsgt', 'jslt', 'jeq32', 'jge32', 'jlt32', 'jsgt32'])} %r5, ${pick([k, k - 1, k + 1, 0, 64, Math.floor(next() * 80)])}`;
  return `
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, ${k}
    mov %r0, 1
    jgt %r4, %r3, out
    mov %r0, 0
    mov %r5, ${pick([0, 1, 2, Math.floor(next() * 70)])}
    mov %r7, 0
  top:
    add %r7, 1
    jgt %r7, 300, out
    mov %r4, %r2
    ${pick(['', 'and %r5, 63', 'rsh %r5, 1', 'mov32 %r5, %r5', 'and32 %r5, 31', 'lsh %r5, 1', 'mod %r5, 50', 'div %r5, 2'])}
    add %r4, %r5
    ${next() < 0.3 ? `st${size} ${at}, 7` : `ldx${size} %r6, ${at}`}
    add %r0, 1
    ${pick(['add %r5, 1', 'add %r5, 2', 'add32 %r5, 1', 'sub %r5, 1', 'add32 %r5, -1', 'mul %r5, 2'])}
    ${next() < 0.5 ? `${exit}, top\n    ja out` : `${exit}, out\n    ja top`}
  out:
    exit`;
}

describe('proven packet accesses on random loops', () => {
  it('never hide a fault: both engines give the same result, packet and error', () => {
    const next = prng(4242);
    let proved = 0;
    for (let i = 0; i < 800; i++) {
      const src = randomLoop(next);
      if (provenSlots(src).some((pc) => pc > 8)) proved++;
      const length = [0, 10, 40, 63, 64, 65, 79, 80][Math.floor(next() * 8)]!;
      const data = Uint8Array.from({ length }, (_, k) => k);
      const outcomes = MODES.map((mode) => {
        const v = new Vm({ mode, memoryBytes: 1 << 20 });
        try {
          const out = v.testRun(load(v, 'p', XDP, src), { dataIn: data });
          return `r0 ${v.lastResult}, packet ${Buffer.from(out.dataOut).toString('hex')}`;
        } catch (e) {
          return (e as Error).message;
        } finally {
          v.close();
        }
      });
      expect(outcomes[1], src).toBe(outcomes[0]);
    }
    expect(proved).toBeGreaterThan(50); // the loops do exercise the proofs
  });
});
