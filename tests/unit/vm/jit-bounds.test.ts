// Packet accesses the JIT proves in bounds or range-checks at run time: which ones the analysis
// marks, and that neither the proofs nor the range checks hide a fault or invent one (each
// program run in both engines must behave the same, fault messages included).
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';
import { buildCfg } from '../../../host-bindings/vm/jit-structure.js';
import { packetAccesses } from '../../../host-bindings/vm/jit-bounds.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { load, MODES } from './build.js';
import { prng } from '../../support/prng.js';

const XDP = BPF_PROG_TYPE.XDP;

function provenSlots(src: string): number[] {
  const p = decodeProgram(assemble(src));
  const { proven } = packetAccesses(p, buildCfg(p, { start: 0, end: p.length }));
  return [...proven.keys()].filter((pc) => proven[pc]);
}

// data in r2, data_end in r3; 14 bytes proven on the fall-through of the jgt at pc 4.
const HEADER = `
  ldxw %r2, [%r1+0]
  ldxw %r3, [%r1+4]
  mov %r4, %r2
  add %r4, 14
  jgt %r4, %r3, out`;

describe('packetAccesses: proven', () => {
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

/** [slot, range] of each access the analysis leaves to a run-time range check, and the slots that load ctx->data. */
function rangeChecked(src: string): { checked: [number, number][]; loadsData: number[] } {
  const p = decodeProgram(assemble(src));
  const m = packetAccesses(p, buildCfg(p, { start: 0, end: p.length }));
  return {
    checked: [...m.rangeChecked.keys()].filter((pc) => m.rangeChecked[pc]).map((pc) => [pc, m.rangeChecked[pc]!]),
    loadsData: [...m.loadsData.keys()].filter((pc) => m.loadsData[pc]),
  };
}

// The sieve of Eratosthenes over a 64-byte packet window: the inner loop's index j starts at
// i * i, steps by i and leaves when (j & ~63) != 0, a test the intervals cannot follow, so the
// store through data + j (slot 17) needs a run-time check. r0 counts the primes below 64.
const SIEVE = `
    ldxw %r2, [%r1+4]
    ldxw %r1, [%r1+0]
    mov %r3, %r1
    add %r3, 64
    mov %r0, 0
    jgt %r3, %r2, out
    mov %r4, 2
  outer:
    mov %r7, %r1
    add %r7, %r4
    ldxb %r7, [%r7+0]
    jeq %r7, 0, next
    add %r0, 1
    mov %r8, %r4
    mul %r8, %r4
    jgt %r8, 63, next
  inner:
    mov %r9, %r1
    add %r9, %r8
    stb [%r9+0], 0
    add %r8, %r4
    mov32 %r9, %r8
    and %r9, -64
    jeq %r9, 0, inner
  next:
    add %r4, 1
    jne %r4, 64, outer
  out:
    exit`;

// 16 bytes proven; r4 = data + the packet's first 8 bytes (unknown to the analysis); then ACCESS at slot 9.
const unknownOffset = (access: string): string => `
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 16
    mov %r0, 99
    jgt %r4, %r3, out
    ldxdw %r5, [%r2+0]
    mov %r4, %r2
    add %r4, %r5
    ${access}
  out:
    exit`;

describe('packetAccesses: range-checked', () => {
  it('range-checks the sieve store through data + an index the intervals lose', () => {
    const { checked, loadsData } = rangeChecked(SIEVE);
    expect(checked).toEqual([[17, 64]]);
    expect(loadsData).toEqual([1]);
    expect(provenSlots(SIEVE)).toEqual([9]);
  });

  it('range-checks data + an unknown scalar, either sign, and a known interval partly in range', () => {
    expect(rangeChecked(unknownOffset('ldxw %r0, [%r4+0]')).checked).toEqual([[9, 16]]);
    expect(rangeChecked(unknownOffset('stxdw [%r4-8], %r5')).checked).toEqual([[9, 16]]);
    expect(rangeChecked(unknownOffset('sub %r4, %r5\n    sub %r4, %r5\n    ldxb %r0, [%r4+3]')).checked).toEqual([[11, 16]]);
    // data + [0, 31] may fall in the 14 proven bytes; data + 14 and data - 1 never do.
    expect(rangeChecked(`${HEADER}
      ldxb %r5, [%r2+0]
      and %r5, 31
      mov %r6, %r2
      add %r6, %r5
      ldxb %r0, [%r6+0]
      ldxb %r0, [%r6-1]
      ldxb %r0, [%r2+14]
      ldxb %r0, [%r2-1]
      exit
    out:
      exit`)).toEqual({ checked: [[9, 14], [10, 14]], loadsData: [0] });
  });

  it('joins a known and an unknown packet offset into an unknown one, but not a non-pointer', () => {
    const join = (other: string) => rangeChecked(`${HEADER}
      ldxdw %r5, [%r2+0]
      mov %r6, %r2
      jeq %r5, 7, skip
      ${other}
    skip:
      ldxb %r0, [%r6+0]
      exit
    out:
      exit`).checked;
    expect(join('add %r6, %r5')).toEqual([[9, 14]]);
    expect(join('mov %r6, %r5')).toEqual([]);
    expect(join('mov %r6, %r10')).toEqual([]);
  });

  it('checks nothing after a helper call, nor through pointer sums, atomics or a too-short range', () => {
    // r6 = data + unknown survives in a callee-saved register, but the call may move the packet;
    // data is loaded again afterwards, with no range proven.
    expect(rangeChecked(`
      mov %r9, %r1
      ldxw %r2, [%r9+0]
      ldxw %r3, [%r9+4]
      mov %r4, %r2
      add %r4, 16
      jgt %r4, %r3, out
      ldxdw %r5, [%r2+0]
      mov %r6, %r2
      add %r6, %r5
      call 7
      ldxb %r0, [%r6+0]
      ldxw %r2, [%r9+0]
      add %r2, %r0
      ldxb %r0, [%r2+0]
    out:
      exit`)).toEqual({ checked: [], loadsData: [] });
    expect(rangeChecked(unknownOffset('add %r4, %r1\n    ldxb %r0, [%r4+0]')).checked).toEqual([]);
    expect(rangeChecked(unknownOffset('mov %r6, %r10\n    add %r6, %r4\n    ldxb %r0, [%r6+0]')).checked).toEqual([[11, 16]]);
    expect(rangeChecked(unknownOffset('lock add [%r4+0], %r5')).checked).toEqual([]);
    expect(rangeChecked(`
      ldxw %r2, [%r1+0]
      ldxw %r3, [%r1+4]
      mov %r4, %r2
      add %r4, 2
      jgt %r4, %r3, out
      ldxb %r5, [%r2+0]
      lsh %r5, 20
      add %r2, %r5
      ldxb %r0, [%r2+0]
      ldxw %r0, [%r2+0]
    out:
      exit`).checked).toEqual([[8, 2]]);
  });
});

for (const mode of MODES) {
  describe(`range-checked packet accesses (${mode})`, () => {
    it('runs the sieve, and skips it for a short packet', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const p = load(vm, 'sieve', XDP, SIEVE);
      const primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61];
      for (const length of [64, 100]) {
        const out = vm.testRun(p, { dataIn: new Uint8Array(length).fill(1) });
        expect(vm.lastResult).toBe(BigInt(primes.length));
        expect([...out.dataOut.subarray(2, 64).keys()].filter((i) => out.dataOut[i + 2]).map((i) => i + 2)).toEqual(primes);
        expect(out.dataOut.subarray(64).every((b) => b === 1)).toBe(true);
      }
      vm.testRun(p, { dataIn: new Uint8Array(63).fill(1) });
      expect(vm.lastResult).toBe(0n);
    });
  });
}

/** What a program does in each engine: r0 and the packet, or the class of the error's cause and its message. */
function outcomes(src: string, data: Uint8Array): string[] {
  return MODES.map((mode) => {
    const v = new Vm({ mode, memoryBytes: 1 << 20 });
    try {
      const out = v.testRun(load(v, 'p', XDP, src), { dataIn: data });
      return `r0 ${v.lastResult}, packet ${Buffer.from(out.dataOut).toString('hex')}`;
    } catch (e) {
      const err = e as Error;
      return `${((err.cause ?? err) as object).constructor.name}: ${err.message}`;
    } finally {
      v.close();
    }
  });
}

/** A packet of `length` bytes (at least 8) whose first 8 bytes hold `offset` (64-bit, little-endian). */
function withOffset(offset: bigint, length: number): Uint8Array {
  const data = Uint8Array.from({ length }, (_, i) => 0x40 + i);
  new DataView(data.buffer).setBigUint64(0, BigInt.asUintN(64, offset), true);
  return data;
}

describe('range-checked packet accesses behave as the interpreter', () => {
  const same = (src: string, data: Uint8Array): string => {
    const [interp, jit] = outcomes(src, data);
    expect(jit, src).toBe(interp);
    return jit!;
  };
  const load4 = unknownOffset('ldxw %r0, [%r4+0]');
  const fault = (what: string, size: number, address: bigint, pc: number) =>
    `MemoryFault: run program "p": out-of-bounds ${what} of ${size} byte(s) at address 0x${address.toString(16)} (pc ${pc})`;

  it('reads up to the last proven byte, and past it only where the packet goes on', () => {
    expect(same(load4, withOffset(12n, 16))).toBe(`r0 ${0x4f4e4d4c}, packet ${Buffer.from(withOffset(12n, 16)).toString('hex')}`);
    expect(same(load4, withOffset(13n, 16))).toMatch(/^MemoryFault: run program "p": out-of-bounds load of 4 byte\(s\) at address 0x[0-9a-f]+ \(pc 9\)$/);
    expect(same(load4, withOffset(13n, 17))).toMatch(new RegExp(`^r0 ${0x504f4e4d},`)); // bytes 13..16
  });

  it('faults on negative and huge offsets with the address the interpreter reports', () => {
    const base = (() => {
      const v = new Vm({ mode: 'interp', memoryBytes: 1 << 20 });
      try {
        v.testRun(load(v, 'p', XDP, unknownOffset('mov %r0, %r2')), { dataIn: withOffset(0n, 16) });
        return v.lastResult;
      } finally {
        v.close();
      }
    })();
    expect(same(load4, withOffset(-1n, 16))).toBe(fault('load', 4, base - 1n, 9));
    expect(same(load4, withOffset(1n << 32n, 16))).toBe(fault('load', 4, base + (1n << 32n), 9));
    expect(same(load4, withOffset(-(1n << 40n), 16))).toBe(fault('load', 4, BigInt.asUintN(64, base - (1n << 40n)), 9));
    const back = unknownOffset('ldxb %r0, [%r4-5]');
    expect(same(back, withOffset(5n, 16))).toMatch(/^r0 5,/); // byte 0 of the offset 5
    expect(same(back, withOffset(4n, 16))).toBe(fault('load', 1, base - 1n, 9));
  });

  it('stores inside the range and faults outside it, the packet untouched', () => {
    const store = unknownOffset('stdw [%r4+0], -1');
    const ok = withOffset(8n, 16);
    expect(same(store, ok)).toBe(`r0 99, packet ${Buffer.from(ok.subarray(0, 8)).toString('hex')}${'ff'.repeat(8)}`);
    expect(same(store, withOffset(9n, 16))).toMatch(/^MemoryFault: run program "p": out-of-bounds store of 8 byte\(s\) .*\(pc 9\)$/);
  });

  it('uses no stale data after bpf_xdp_adjust_head moved the packet', () => {
    // 30 bytes proven; r6 = data + x; the head moves 10 bytes in; then a load through r6.
    const src = `
      mov %r9, %r1
      ldxw %r2, [%r9+0]
      ldxw %r3, [%r9+4]
      mov %r4, %r2
      add %r4, 30
      mov %r0, 99
      jgt %r4, %r3, out
      ldxdw %r5, [%r2+0]
      mov %r6, %r2
      add %r6, %r5
      mov %r1, %r9
      mov %r2, 10
      call 44
      ldxb %r0, [%r6+0]
    out:
      exit`;
    expect(same(src, withOffset(9n, 30))).toMatch(/^MemoryFault: run program "p": out-of-bounds load of 1 byte\(s\) .*\(pc 13\)$/);
    expect(same(src, withOffset(10n, 30))).toMatch(/^r0 74,/); // 0x40 + 10
    // The old data and data_end kept across the call prove nothing: data + 9 is still refused.
    const kept = src.replace('mov %r6, %r2', 'mov %r6, %r2\n      mov %r7, %r2\n      mov %r8, %r3')
      .replace('ldxb %r0, [%r6+0]', 'add %r7, 30\n      jgt %r7, %r8, out\n      ldxb %r0, [%r6+0]');
    expect(same(kept, withOffset(9n, 30))).toMatch(/^MemoryFault: run program "p": out-of-bounds load of 1 byte\(s\) .*\(pc 17\)$/);
  });
});

/**
 * A random program with packet accesses through data + an offset the analysis cannot bound
 * (from the packet, perhaps shifted, negated, xor-ed, or through a loop), sometimes after a
 * helper call, with random sizes and constant offsets.
 */
function randomUnknownOffsets(next: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const k = pick([1, 8, 16, 33, 64]);
  const lines = [
    'mov %r9, %r1',
    'ldxw %r2, [%r9+0]',
    'ldxw %r3, [%r9+4]',
    'mov %r4, %r2',
    `add %r4, ${k}`,
    'mov %r0, 1',
    'jgt %r4, %r3, out',
    'mov %r0, 0',
  ];
  for (let i = 0; i < 4; i++) {
    const size = pick(['b', 'h', 'w', 'dw']);
    lines.push(
      `ldx${pick(['b', 'h', 'dw'])} %r5, [%r2+0]`,
      pick(['', 'rsh %r5, 58', 'xor %r5, 0x55', 'neg %r5', 'sub %r5, 3', 'arsh %r5, 60', 'or %r5, 8', 'mov32 %r5, %r5']),
      'mov %r4, %r2',
      `${pick(['add', 'add', 'sub'])} %r4, %r5`,
    );
    if (next() < 0.15) lines.push('mov %r6, %r4', 'call 7', 'mov %r4, %r6');
    const off = pick([0, 0, 1, -1, 7, -8, k - 1, k]);
    const at = `[%r4${off >= 0 ? '+' : ''}${off}]`;
    lines.push(next() < 0.4 ? `st${size} ${at}, ${Math.floor(next() * 256)}` : `ldx${size} %r7, ${at}`, 'add %r0, %r7');
    if (next() < 0.3) lines.push('ldxw %r2, [%r9+0]');
  }
  lines.push('out:', 'exit');
  return lines.join('\n    ');
}

describe('range-checked packet accesses on random programs', () => {
  it('never hide a fault nor invent one: both engines give the same result, packet and error', () => {
    const next = prng(777);
    let checked = 0;
    for (let i = 0; i < 400; i++) {
      const src = randomUnknownOffsets(next);
      if (rangeChecked(src).checked.length > 0) checked++;
      const length = [0, 1, 8, 16, 17, 33, 64, 80][Math.floor(next() * 8)]!;
      const data = Uint8Array.from({ length }, () => Math.floor(next() * 256));
      const [interp, jit] = outcomes(src, data);
      expect(jit, src).toBe(interp);
    }
    expect(checked).toBeGreaterThan(200);
  });
});
