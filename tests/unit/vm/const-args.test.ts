// Load-time checks of helper argument values the kernel verifier makes (const-args.ts,
// arg-kinds.ts, printf-format.ts): zero sizes, constant strings outside read-only maps, and
// bpf_snprintf data lengths and formats. Each was checked against this machine's kernel
// (tests/kernel/vm/helpers-differential.test.ts loads the same programs there).
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { formatProblem } from '../../../host-bindings/vm/printf-format.js';
import type { VmMap } from '../../../host-bindings/vm/maps.js';
import { load, le32, MODES } from './build.js';

const RAW_TP = BPF_PROG_TYPE.RAW_TRACEPOINT;
const BUF = 'stdw [%r10-8], 0\nstdw [%r10-16], 0\nstdw [%r10-24], 0\nstdw [%r10-32], 0';

describe('bpf_snprintf formats (bpf_bprintf_prepare)', () => {
  it('accepts the kernel\'s conversions with flags, width and an argument each', () => {
    for (const [fmt, n] of [
      ['plain', 0], ['100%% sure', 0], ['%d %i %u %x %X', 5], ['%ld %lld %lu %llx', 4], ['%-08d|%+5u|% x', 3],
      ['%c%s.', 2], ['%p %pK %px %ps %pS %pB', 6], ['%pks, %pus', 2], ['%pi4 %pI6', 2], ['%d', 13],
    ] as const) {
      expect(formatProblem(fmt, n), fmt).toBeUndefined();
    }
  });

  it('refuses missing arguments, unknown conversions, and non-printable characters', () => {
    expect(formatProblem('%d %d', 1)).toBe('conversion at offset 3 has no argument (1 given)');
    expect(formatProblem('%f', 1)).toBe('unsupported conversion "%f" at offset 0');
    expect(formatProblem('%lu%sx', 2)).toBe('unsupported conversion "%s" at offset 3');
    expect(formatProblem('%pz', 1)).toBe('unsupported conversion "%p" at offset 0');
    expect(formatProblem('%hd', 1)).toBe('unsupported conversion "%h" at offset 0');
    expect(formatProblem('a\x01', 0)).toBe('character 0x1 at offset 1 is not printable ASCII');
    expect(formatProblem('é', 0)).toMatch(/not printable ASCII/);
  });
});

for (const mode of MODES) {
  describe(`load-time helper argument values (${mode})`, () => {
    let vm: Vm;
    let maps: Record<string, VmMap>;
    afterEach(() => vm?.close());
    const setup = () => {
      vm = new Vm({ mode, memoryBytes: 4 << 20 });
      const text = (name: string, bytes: string, readOnly: boolean) => {
        const m = vm.createMap({ name, type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 16, maxEntries: 1, flags: 0 }, readOnly);
        vm.mem.u8.set(Buffer.from(bytes, 'latin1'), m.lookupAddr(le32(0)));
        return m;
      };
      // .rodata: "abc\0%d %d\0"; .data (writable): "%d\0"; "noterm": 16 bytes without a NUL.
      maps = { rodata: text('rodata', 'abc\0%d %d\0', true), data: text('data', '%d\0', false), noterm: text('noterm', 'x'.repeat(16), true) };
    };
    const strncmp = (size: string, s2: string) => load(vm, 'cmp', RAW_TP, `${BUF}
      mov %r1, %r10
      add %r1, -8
      ${size}
      ${s2}
      call 182
      exit`, maps);
    const snprintf = (fmt: string, dataLen: number) => load(vm, 'snp', RAW_TP, `${BUF}
      mov %r1, %r10
      add %r1, -8
      mov %r2, 8
      ${fmt}
      mov %r4, %r10
      add %r4, -32
      mov %r5, ${dataLen}
      call 165
      exit`, maps);

    it('strncmp: a zero size is refused; a bounded variable size passes, as in the kernel', () => {
      setup();
      expect(() => strncmp('mov %r2, 0', 'ldmapval %r3, rodata, 0')).toThrow(
        /load program "cmp": pc 9 \(call 182\): argument 2 of strncmp#182 \(r2, ARG_CONST_SIZE\) is 0: a zero-sized access/,
      );
      const p = strncmp('ldxb %r2, [%r10-1]\nand %r2, 7\nadd %r2, 1', 'ldmapval %r3, rodata, 0');
      expect(vm.testRun(p, { ctxIn: new Uint8Array(8) }).retval | 0).toBe(-1);
    });

    it('strncmp / snprintf: constant strings must be NUL-terminated strings in a read-only map', () => {
      setup();
      const err = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return e as Error & { errno: number };
        }
        throw new Error('loaded');
      };
      const onStack = err(() => strncmp('mov %r2, 4', 'mov %r3, %r10\nadd %r3, -16'));
      expect(onStack.message).toMatch(/pc 9 \(call 182\): argument 3 of strncmp#182 \(r3, ARG_PTR_TO_CONST_STR\) is pointer to stack r10-16, not a constant string in a read-only map/);
      expect(onStack.errno).toBe(ERRNO.EINVAL);
      expect(() => snprintf('mov %r3, %r10\nadd %r3, -16', 0)).toThrow(/argument 3 of snprintf#165 \(r3, ARG_PTR_TO_CONST_STR\) is pointer to stack r10-16/);
      expect(() => snprintf('ldmapval %r3, data, 0', 8)).toThrow(/argument 3 of snprintf#165 \(r3, fmt\) at 0x[0-9a-f]+ is not a NUL-terminated string in a read-only map/);
      expect(() => strncmp('mov %r2, 4', 'ldmapval %r3, noterm, 0')).toThrow(/argument 3 of strncmp#182 \(r3, s2\) at 0x[0-9a-f]+ is not a NUL-terminated string/);
      expect(() => strncmp('mov %r2, 4', 'ldmapval %r3, rodata, 0')).not.toThrow();
    });

    it('snprintf: data_len must be a multiple of 8 giving each conversion an argument', () => {
      setup();
      expect(() => snprintf('ldmapval %r3, rodata, 4', 12)).toThrow(/pc 12 \(call 165\): argument 5 of snprintf#165 \(r5, data_len\) is 12, not a multiple of 8/);
      expect(() => snprintf('ldmapval %r3, rodata, 4', 8)).toThrow(
        /argument 3 of snprintf#165 \(r3, fmt\) "%d %d" is not a valid format with 1 argument\(s\): conversion at offset 3 has no argument/,
      );
      const ok = snprintf('ldmapval %r3, rodata, 4', 16);
      expect(vm.testRun(ok, { ctxIn: new Uint8Array(8) }).retval).toBe(4); // "0 0" and its NUL
    });

    it('snprintf pads with the kernel\'s flags and widths', () => {
      setup();
      const m = vm.createMap({ name: 'fmt', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 32, maxEntries: 1, flags: 0 }, true);
      vm.mem.u8.set(Buffer.from('%05u|%-3x|%+d|% d|%3c|%-4d|\0'), m.lookupAddr(le32(0)));
      const args = [7, 10, 5, 6, 65, -2].map((v, i) => `stdw [%r10-${48 - 8 * i}], ${v}`).join('\n');
      const p = load(vm, 'pad', RAW_TP, `${args}
        mov %r1, %r10
        add %r1, -96
        mov %r2, 48
        ldmapval %r3, fmt, 0
        mov %r4, %r10
        add %r4, -48
        mov %r5, 48
        call 165
        exit`, { fmt: m });
      const r = vm.testRun(p, { ctxIn: new Uint8Array(8) });
      const top = vm.mem.regLo(10) >>> 0;
      const out = Buffer.from(vm.mem.u8.subarray(top - 96, top - 96 + r.retval - 1)).toString('latin1');
      expect(out).toBe('00007|a  |+5| 6|  A|-2  |');
    });

    it('snprintf: more than 12 arguments passes the load and fails each call with -EINVAL, as in the kernel', () => {
      setup();
      const p = load(vm, 'many', RAW_TP, `mov %r1, 0
        mov %r2, 0
        ldmapval %r3, rodata, 0
        mov %r4, %r10
        add %r4, -104
        mov %r5, 104
        call 165
        exit`, maps);
      expect(vm.testRun(p, { ctxIn: new Uint8Array(8) }).retval | 0).toBe(-ERRNO.EINVAL);
    });
  });
}
