// Behaviour the conformance suite does not cover, identical in the interpreter and the JIT:
// memory faults, the stack frame, the loop budget, nested calls, lddw forms, tracing.
import { describe, expect, it } from 'vitest';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { RawMachine } from '../../../host-bindings/vm/raw.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { load, MODES } from './build.js';

const run = (mode: (typeof MODES)[number], src: string, mem = new Uint8Array(0), budget?: number) =>
  new RawMachine().run(assemble(src), mem, { mode, ...(budget !== undefined ? { budget } : {}) });

for (const mode of MODES) {
  describe(`engine: ${mode}`, () => {
    it('stops an out-of-bounds load with the pc and address', () => {
      expect(() => run(mode, 'ldxw %r0, [%r1+4]\nexit', new Uint8Array(4))).toThrow(
        /out-of-bounds load of 4 byte\(s\) at address 0x[0-9a-f]+ \(pc 0\)/,
      );
      expect(() => run(mode, 'ldxb %r0, [%r1-1]\nexit', new Uint8Array(4))).toThrow(/out-of-bounds load of 1 byte/);
      expect(() => run(mode, 'mov %r1, 0\nldxdw %r0, [%r1]\nexit')).toThrow(/at address 0x0 \(pc 1\)/);
      expect(() => run(mode, 'lddw %r1, 0x100000000\nldxb %r0, [%r1]\nexit')).toThrow(/at address 0x100000000 \(pc 2\)/);
    });

    it('stops an out-of-bounds store and leaves memory outside the region alone', () => {
      expect(() => run(mode, 'stw [%r1+2], 7\nmov %r0, 0\nexit', new Uint8Array(4))).toThrow(/out-of-bounds store of 4 byte\(s\).*\(pc 0\)/);
      // The stack is writable but a dynamic pointer below it is not.
      expect(() => run(mode, 'mov %r2, %r10\nsub %r2, 5000\nstb [%r2], 1\nmov %r0, 0\nexit')).toThrow(/out-of-bounds store .*\(pc 2\)/);
    });

    it('reads and writes the stack through r10 and a copy of it', () => {
      expect(run(mode, 'stdw [%r10-512], 41\nmov %r2, %r10\nadd %r2, -512\nldxdw %r0, [%r2]\nadd %r0, 1\nexit')).toBe(42n);
    });

    it('ends a non-terminating loop with the back-edge budget', () => {
      expect(() => run(mode, 'mov %r0, 0\nl:\nadd %r0, 1\njne %r0, 0, l\nexit', new Uint8Array(0), 1000)).toThrow(
        /back-edge budget exhausted/,
      );
      expect(run(mode, 'mov %r0, 0\nl:\nadd %r0, 1\njlt %r0, 500, l\nexit', new Uint8Array(0), 1000)).toBe(500n);
    });

    it('gives each bpf-to-bpf call its own frame and preserves r6-r9 (depth 8)', () => {
      const lines = ['mov %r6, 1', 'stdw [%r10-8], 100', 'call local f1', 'ldxdw %r1, [%r10-8]', 'add %r0, %r1', 'add %r0, %r6', 'exit'];
      for (let i = 1; i <= 7; i++) {
        lines.push(`f${i}:`, 'mov %r6, 1000', `stdw [%r10-8], ${i}`);
        lines.push(i < 7 ? `call local f${i + 1}` : 'mov %r0, 0');
        lines.push('ldxdw %r1, [%r10-8]', 'add %r0, %r1', 'exit');
      }
      expect(run(mode, lines.join('\n'))).toBe(BigInt(1 + 2 + 3 + 4 + 5 + 6 + 7 + 100 + 1));
    });

    it('loads 64-bit constants, map references and map value addresses', () => {
      const vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const arr = vm.createMap({ name: 'arr', type: 2, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0 });
      const p = load(vm, 'p', BPF_PROG_TYPE.XDP, [
        'ldmapval %r2, arr, 8', // &arr[1]
        'stdw [%r2], 7',
        'stw [%r10-4], 1',
        'ldmap %r1, arr',
        'mov %r2, %r10',
        'add %r2, -4',
        'call 1',
        'jeq %r0, 0, fail',
        'ldxdw %r0, [%r0]',
        'lddw %r1, 0x1122334455667788',
        'rsh %r1, 32',
        'add %r0, %r1',
        'exit',
        'fail:',
        'mov %r0, -1',
        'exit',
      ].join('\n'), { arr });
      vm.testRun(p, { dataIn: new Uint8Array(64) });
      expect(vm.lastResult).toBe(0x11223344n + 7n);
      vm.close();
    });
  });
}

describe('interpreter trace', () => {
  it('prints each instruction with the registers', () => {
    const lines: string[] = [];
    new RawMachine().run(assemble('mov %r0, 5\nadd %r0, 2\nexit'), new Uint8Array(0), { trace: (l) => lines.push(l) });
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\s+1: add %r0, 2\s+r0=0x5 r1=/);
  });
});

describe('JIT control flow', () => {
  it('compiles a loop entered in its middle (clang\'s rotated loops) and nested loops with continue', () => {
    const src = [
      'mov %r0, 0', 'mov %r1, 0', 'ja body',
      'latch:', 'add %r1, 1', 'jeq %r1, 10, done',
      'body:', 'mov %r2, 0',
      'inner:', 'add %r2, 1', 'jset %r2, 1, inner', 'add %r0, %r2', 'jlt %r2, 6, inner', 'ja latch',
      'done:', 'exit',
    ].join('\n');
    const m = new RawMachine();
    expect(m.run(assemble(src), new Uint8Array(0), { mode: 'jit' })).toBe(m.run(assemble(src), new Uint8Array(0)));
    expect(m.lastEngine).toBe('interp');
    m.run(assemble(src), new Uint8Array(0), { mode: 'jit' });
    expect(m.lastEngine).toBe('jit');
  });

  it('declines irreducible control flow (a loop with two entries) and interprets it', () => {
    const src = ['mov %r0, 0', 'jeq %r1, 0, b', 'a:', 'add %r0, 1', 'b:', 'add %r0, 2', 'jlt %r0, 20, a', 'exit'].join('\n');
    const m = new RawMachine();
    expect(m.run(assemble(src), new Uint8Array(0), { mode: 'jit' })).toBe(21n);
    expect(m.lastEngine).toBe('interp');
  });
});
