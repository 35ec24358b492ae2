// The interpreter's decoded form (one word per slot, r10-based accesses without run-time tag
// checks) against the JIT on generated programs, and the stack fast paths at every width and
// call depth. No root needed: both engines run in the VM.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { generateProgram, rng } from '../../kernel/vm/generator.js';
import { load, MODES } from './build.js';

let vms: Vm[] = [];
afterEach(() => {
  for (const vm of vms) vm.close();
  vms = [];
});

function outcome(mode: (typeof MODES)[number], src: string, data: Uint8Array): string {
  const vm = new Vm({ mode, memoryBytes: 4 << 20 });
  vms.push(vm);
  const maps = {
    arr: vm.createMap({ name: 'arr', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0 }),
    h: vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0 }),
  };
  const p = load(vm, 'p', BPF_PROG_TYPE.XDP, src, maps);
  const r = vm.testRun(p, { dataIn: data });
  return `${r.retval} ${Buffer.from(r.dataOut).toString('hex')}`;
}

describe('interpreter', () => {
  it('agrees with the JIT on 120 generated programs (r0 and every register stored into the packet)', () => {
    const mismatches: string[] = [];
    for (let seed = 1; seed <= 120; seed++) {
      const src = generateProgram(rng(seed), 20 + (seed % 4) * 30);
      const data = Uint8Array.from({ length: 96 }, (_, i) => (i * 73 + seed) & 0xff);
      const [interp, jit] = MODES.map((m) => outcome(m, src, data));
      if (interp !== jit) mismatches.push(`seed ${seed}: interp ${interp}, jit ${jit}`);
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
  });

  it('reads and writes r10-relative slots of every width, in every frame of a call chain', () => {
    // Each function stores a pattern at the top and bottom of its frame with st and stx of all
    // widths, calls the next one, then sums what it reads back (sign-extending loads included).
    const fn = (i: number, last: boolean) => `
      f${i}:
      stb [%r10-1], ${0x81 + i}
      sth [%r10-4], ${0x8203 + i}
      stw [%r10-8], ${-0x7f000000 + i}
      stdw [%r10-16], ${-2 - i}
      mov %r2, ${0x11 + i}
      stxb [%r10-512], %r2
      stxh [%r10-510], %r2
      stxw [%r10-508], %r2
      lddw %r2, 0x123456789a
      stxdw [%r10-504], %r2
      ${last ? 'mov %r0, 0' : `call local f${i + 1}`}
      ldxb %r3, [%r10-1]
      add %r0, %r3
      ldxsh %r3, [%r10-4]
      add %r0, %r3
      ldxw %r3, [%r10-8]
      add %r0, %r3
      ldxdw %r3, [%r10-16]
      add %r0, %r3
      ldxb %r3, [%r10-512]
      add %r0, %r3
      ldxh %r3, [%r10-510]
      add %r0, %r3
      ldxw %r3, [%r10-508]
      add %r0, %r3
      ldxdw %r3, [%r10-504]
      add %r0, %r3
      exit`;
    const src = `call local f0\nexit\n${Array.from({ length: 7 }, (_, i) => fn(i, i === 6)).join('\n')}`;
    let expected = 0n;
    for (let i = 0; i < 7; i++) {
      expected += BigInt(0x81 + i) + BigInt.asIntN(16, BigInt(0x8203 + i)) + BigInt((-0x7f000000 + i) >>> 0) + BigInt(-2 - i);
      expected += BigInt(0x11 + i) * 3n + 0x123456789an;
    }
    for (const mode of MODES) {
      const vm = new Vm({ mode, memoryBytes: 4 << 20 });
      vms.push(vm);
      const p = load(vm, 'stack', BPF_PROG_TYPE.XDP, src);
      vm.testRun(p, { dataIn: new Uint8Array(64) });
      expect({ mode, r0: vm.mem.readReg(0) }).toEqual({ mode, r0: BigInt.asUintN(64, expected) });
    }
  });
});
