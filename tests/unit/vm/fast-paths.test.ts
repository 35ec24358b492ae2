// The JIT's shortcuts must not change results: hash-map lookups through the direct import
// (every key size, LRU order, bad key pointers), the one-branch access check, and the tag check
// of atomics (read and write both required), each compared with the interpreter.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { load, le32, le64, MODES } from './build.js';

const XDP = BPF_PROG_TYPE.XDP;
let vm: Vm | undefined;
afterEach(() => vm?.close());

/** Looks up the key stored at r10-16 (keySize bytes) and returns the u64 value or 999 when missing. */
function lookupProgram(keyStores: string): string {
  return `
    ${keyStores}
    ldmap %r1, h
    mov %r2, %r10
    add %r2, -16
    call 1
    jeq %r0, 0, miss
    ldxdw %r0, [%r0]
    exit
  miss:
    mov %r0, 999
    exit
  `;
}

function keyBytes(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (seed * 37 + i * 11 + 1) & 0xff);
}

/** stb instructions writing `key` at r10-16. */
function storeKey(key: Uint8Array): string {
  return [...key].map((b, i) => `stb [%r10-${16 - i}], ${b}`).join('\n');
}

for (const mode of MODES) {
  describe(`fast paths (${mode})`, () => {
    for (const keySize of [1, 2, 4, 8, 12]) {
      it(`hash lookup with a ${keySize}-byte key finds present keys and misses absent ones`, () => {
        vm = new Vm({ mode, memoryBytes: 1 << 20 });
        const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize, valueSize: 8, maxEntries: 8, flags: 0 });
        for (let k = 0; k < 3; k++) expect(h.updateElem(keyBytes(keySize, k), le64(BigInt(100 + k)), 0, true)).toBe(0);
        for (let k = 0; k < 4; k++) {
          const p = load(vm, `p${k}`, XDP, lookupProgram(storeKey(keyBytes(keySize, k))), { h });
          for (let i = 0; i < 3; i++) vm.testRun(p, { dataIn: new Uint8Array(14) });
          expect(vm.lastResult).toBe(k < 3 ? BigInt(100 + k) : 999n);
        }
      });
    }

    it('hash lookup of a key above 2^31 (u32 keys are unsigned)', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      h.updateElem(le32(0xfffffffe), le64(7n), 0, true);
      const p = load(vm, 'p', XDP, lookupProgram('stw [%r10-16], -2'), { h });
      vm.testRun(p, { dataIn: new Uint8Array(14) });
      expect(vm.lastResult).toBe(7n);
    });

    it('program lookups refresh LRU order', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      h.updateElem(le32(1), le64(1n), 0, true);
      h.updateElem(le32(2), le64(2n), 0, true);
      const p = load(vm, 'p', XDP, lookupProgram('stw [%r10-16], 1'), { h });
      vm.testRun(p, { dataIn: new Uint8Array(14) });
      expect(vm.lastResult).toBe(1n);
      h.updateElem(le32(3), le64(3n), 0, true); // evicts key 2, the least recently used
      expect(h.lookupAddr(le32(2))).toBe(0);
      expect(h.lookupAddr(le32(1))).not.toBe(0);
    });

    it('a hash lookup with an unreadable key fails with the helper error', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const h = vm.createMap({ name: 'h', type: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 });
      // lddw constants below 2^32 may be relocated map value addresses, so only the run-time check can refuse these.
      const nullKey = load(vm, 'null_key', XDP, 'ldmap %r1, h\nlddw %r2, 0\ncall 1\nexit', { h });
      expect(() => vm!.testRun(nullKey, { dataIn: new Uint8Array(14) })).toThrow(
        /pc 4: helper map_lookup_elem#1: argument 2 \(key\) 0x0 is not readable memory of 4 byte\(s\)/,
      );
      // Two bytes below the stack top: the key's last two bytes are in the guard after the stack.
      const straddle = load(vm, 'straddle', XDP, 'ldmap %r1, h\nmov %r2, %r10\nadd %r2, -2\ncall 1\nexit', { h });
      expect(() => vm!.testRun(straddle, { dataIn: new Uint8Array(14) })).toThrow(/argument 2 \(key\) 0x[0-9a-f]+ is not readable/);
      const huge = load(vm, 'huge', XDP, 'ldmap %r1, h\nlddw %r2, 0x10000001\nlsh %r2, 4\ncall 1\nexit', { h });
      expect(() => vm!.testRun(huge, { dataIn: new Uint8Array(14) })).toThrow(/argument 2 \(key\) 0x100000010 is not readable/);
    });

    it('an atomic add on a read-only map value faults', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const ro = vm.createMap({ name: 'ro', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 }, true);
      const p = load(vm, 'p', XDP, 'ldmapval %r1, ro, 0\nmov %r2, 1\nlock add [%r1+0], %r2\nmov %r0, 0\nexit', { ro });
      expect(() => vm!.testRun(p, { dataIn: new Uint8Array(14) })).toThrow(/store of 8 byte\(s\) to read-only memory at address 0x[0-9a-f]+ \(pc 3\)/);
    });

    it('an access just past the end of VM memory faults', () => {
      vm = new Vm({ mode, memoryBytes: 1 << 20 });
      const p = load(vm, 'p', XDP, 'lddw %r1, 0xffffc\nldxdw %r0, [%r1]\nexit');
      expect(() => vm!.testRun(p, { dataIn: new Uint8Array(14) })).toThrow(/out-of-bounds load of 8 byte\(s\) at address 0xffffc \(pc 2\)/);
    });
  });
}
