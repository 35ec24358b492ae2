// The helpers that read or set the event a run handles: bpf_get_func_arg / _ret / _arg_cnt
// (trampoline programs, the context is the traced function's u64 arguments), bpf_override_return
// (kprobes) and bpf_get_retval / bpf_set_retval (cgroup hooks). This kernel has no trampolines
// and no kprobes (kernel.md: fentry/fexit loads fail with EPERM, kprobes are not configured),
// and BPF_PROG_TEST_RUN cannot run the cgroup hooks that allow get/set_retval, so these are
// tested against the kernel's documented semantics only, not differentially.
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, ERRNO } from '../../../host-bindings/uapi.js';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { load, le64, MODES } from './build.js';

const TRACING = BPF_PROG_TYPE.TRACING;
const ctxOf = (...v: bigint[]) => Uint8Array.from(v.flatMap((x) => [...le64(x)]));

for (const mode of MODES) {
  describe(`event helpers (${mode})`, () => {
    let vm: Vm;
    afterEach(() => vm?.close());
    const newVm = () => (vm = new Vm({ mode, memoryBytes: 4 << 20 }));

    /** get_func_arg(ctx, n, r10-8) with r10-8 preset to 0x77: r0 in the low byte, the value read in the rest. */
    const funcArg = (n: number) => load(vm, `arg${n}`, TRACING, `
      stdw [%r10-8], 0x77
      mov %r2, ${n}
      mov %r3, %r10
      add %r3, -8
      call 183
      ldxdw %r1, [%r10-8]
      lsh %r1, 8
      and %r0, 0xff
      or %r0, %r1
      exit`);

    it('get_func_arg reads argument n of the context, -EINVAL past the count leaving *value untouched', () => {
      newVm();
      const ctx = ctxOf(11n, 22n, 33n);
      expect(vm.trigger(funcArg(0), ctx)).toBe(11 << 8);
      expect(vm.trigger(funcArg(2), ctx)).toBe(33 << 8);
      expect(vm.trigger(funcArg(3), ctx)).toBe((0x77 << 8) | (-ERRNO.EINVAL & 0xff));
      // With funcArgs the last u64 is the return value, not an argument.
      expect(vm.trigger(funcArg(2), ctx, { funcArgs: 2 })).toBe((0x77 << 8) | (-ERRNO.EINVAL & 0xff));
      // The index is compared as a u32, as the kernel's inlined code does.
      const big = load(vm, 'big', TRACING, 'mov %r3, %r10\nadd %r3, -8\nlddw %r2, 0x100000000\ncall 183\nexit');
      expect(vm.trigger(big, ctx) | 0).toBe(0);
    });

    it('get_func_arg_cnt is the argument count; get_func_ret reads the fexit return value or is -EOPNOTSUPP', () => {
      newVm();
      const cnt = load(vm, 'cnt', TRACING, 'call 185\nexit');
      expect(vm.trigger(cnt, ctxOf(1n, 2n, 3n))).toBe(3);
      expect(vm.trigger(cnt, ctxOf(1n, 2n, 3n), { funcArgs: 2 })).toBe(2);
      expect(vm.trigger(cnt, new Uint8Array(0))).toBe(0);
      const ret = load(vm, 'ret', TRACING, `
        stdw [%r10-8], 0x77
        mov %r2, %r10
        add %r2, -8
        call 184
        ldxdw %r1, [%r10-8]
        lsh %r1, 8
        and %r0, 0xff
        or %r0, %r1
        exit`);
      expect(vm.trigger(ret, ctxOf(5n, 0xabn), { funcArgs: 1 })).toBe(0xab << 8);
      expect(vm.trigger(ret, ctxOf(5n, 0xabn))).toBe((0x77 << 8) | (-ERRNO.EOPNOTSUPP & 0xff));
    });

    it('a bad funcArgs is refused naming it', () => {
      newVm();
      const cnt = load(vm, 'cnt', TRACING, 'call 185\nexit');
      expect(() => vm.trigger(cnt, ctxOf(1n), { funcArgs: 2 })).toThrow(/run program "cnt": funcArgs 2 is not an argument count between 0 and 1/);
      expect(() => vm.trigger(cnt, ctxOf(1n), { funcArgs: 0.5 })).toThrow(/funcArgs 0.5/);
    });

    it('override_return records the return value for the caller, per run', () => {
      newVm();
      const p = load(vm, 'ovr', BPF_PROG_TYPE.KPROBE, 'mov %r2, -12\ncall 58\nexit');
      const none = load(vm, 'none', BPF_PROG_TYPE.KPROBE, 'mov %r0, 0\nexit');
      expect(vm.trigger(p, new Uint8Array(8))).toBe(0);
      expect(vm.lastOverride).toBe(BigInt.asUintN(64, -12n));
      vm.trigger(none, new Uint8Array(8));
      expect(vm.lastOverride).toBeUndefined();
    });

    it('set_retval / get_retval keep the cgroup hook\'s return value for the run (0 at the start)', () => {
      newVm();
      const p = load(vm, 'rv', BPF_PROG_TYPE.CGROUP_SOCK, `
        call 186
        mov %r6, %r0
        mov %r1, -1
        call 187
        call 186
        add %r0, %r6
        exit`);
      expect(vm.trigger(p, new Uint8Array(16)) | 0).toBe(-1);
      expect(vm.lastRetval).toBe(-1);
      expect(vm.trigger(p, new Uint8Array(16)) | 0).toBe(-1);
      expect(vm.lastRetval).toBe(-1);
      const set = load(vm, 'set', BPF_PROG_TYPE.CGROUP_SOCKOPT, 'mov %r1, -13\ncall 187\nexit');
      expect(vm.trigger(set, new Uint8Array(16))).toBe(0);
      expect(vm.lastRetval).toBe(-ERRNO.EACCES);
    });
  });
}

describe('event helpers: program types', () => {
  it('are refused at load outside the program types the kernel allows them in', () => {
    const vm = new Vm({ memoryBytes: 4 << 20 });
    try {
      const denied: [number, number, RegExp][] = [
        [BPF_PROG_TYPE.KPROBE, 183, /get_func_arg#183 is not allowed in KPROBE programs/],
        [BPF_PROG_TYPE.RAW_TRACEPOINT, 185, /get_func_arg_cnt#185 is not allowed in RAW_TRACEPOINT/],
        [BPF_PROG_TYPE.TRACEPOINT, 58, /override_return#58 is not allowed in TRACEPOINT/],
        [BPF_PROG_TYPE.TRACING, 58, /override_return#58 is not allowed in TRACING/],
        [BPF_PROG_TYPE.CGROUP_SKB, 186, /get_retval#186 is not allowed in CGROUP_SKB/],
        [BPF_PROG_TYPE.XDP, 187, /set_retval#187 is not allowed in XDP/],
      ];
      for (const [type, id, why] of denied) {
        expect(() => load(vm, 'p', type, `mov %r2, 0\nmov %r3, %r10\nadd %r3, -8\ncall ${id}\nexit`)).toThrow(why);
      }
      expect(() => load(vm, 'lsm', BPF_PROG_TYPE.LSM, 'call 185\nexit')).not.toThrow();
      // Sock-addr hooks whose return value is the kernel's refuse the retval helpers (checked
      // against this kernel); the other attach types of the same program type take them.
      const sockAddr = (attach: number, id: number) =>
        vm.loadProgram({ name: 'sa', type: BPF_PROG_TYPE.CGROUP_SOCK_ADDR, expectedAttachType: attach, insns: assemble(`mov %r1, 0\ncall ${id}\nmov %r0, 1\nexit`) });
      for (const attach of [BPF_ATTACH_TYPE.CGROUP_UDP4_RECVMSG, BPF_ATTACH_TYPE.CGROUP_INET6_GETPEERNAME, BPF_ATTACH_TYPE.CGROUP_UNIX_GETSOCKNAME]) {
        expect(() => sockAddr(attach, 186)).toThrow(/get_retval#186 is not allowed in CGROUP_SOCK_ADDR programs attached as CGROUP_/);
      }
      expect(() => sockAddr(BPF_ATTACH_TYPE.CGROUP_INET4_CONNECT, 187)).not.toThrow();
    } finally {
      vm.close();
    }
  });
});
